package ec2

import (
	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/userdata"
)

// maxUserData is EC2's limit on user data before base64 encoding.
const maxUserData = 16 << 10

// UserData returns the boot script of cluster's instances (see
// userdata.Script): StopInstances without Force shuts the OS down, which
// drains the worker, and so does TerminateInstances.
func UserData(cluster string, w userdata.Worker) (string, error) {
	s, err := userdata.Script("ec2", cluster, w)
	if err != nil {
		return "", err
	}
	if len(s) > maxUserData {
		return "", imgrec.Errorf(imgrec.ETOOLARGE, "user data for cluster %s: %d bytes, EC2 takes at most %d", cluster, len(s), maxUserData)
	}
	return s, nil
}
