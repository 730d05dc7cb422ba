package nova

import (
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
)

// convert maps a Nova server to an imgrec.Instance (see the package comment
// for the mapping); terminating says Terminate is waiting for it to stop.
// Since is when Nova last changed the server (its "updated", which a state
// change sets), or its creation while it builds; the provider's own
// actions, which are later, move it on.
func convert(s servers.Server, terminating bool) imgrec.Instance {
	in := imgrec.Instance{ID: s.ID, Since: s.Updated, Provider: Name}
	task := s.TaskState
	switch {
	case s.Status == "ERROR":
		in.State, in.Detail = imgrec.StateStopping, "ERROR, deleted by the provider: "+faultText(s)
	case deleting(s):
		in.State, in.Detail = imgrec.StateStopping, "deleting"
	case terminating:
		in.State, in.Detail = imgrec.StateStopping, "terminating: stopping (the worker drains), then deleted"
	case s.Status == "BUILD":
		in.State, in.Since = imgrec.StatePending, s.Created
	case task == "powering-off":
		in.State = imgrec.StateStopping
	case task == "powering-on":
		in.State = imgrec.StatePending
	case s.Status == "SHUTOFF":
		in.State = imgrec.StateStopped
	case s.Status == "ACTIVE":
		in.State = imgrec.StateRunning
	case s.Status == "REBOOT" || s.Status == "HARD_REBOOT" || s.Status == "REBUILD" || s.Status == "RESIZE" || s.Status == "REVERT_RESIZE":
		in.State, in.Detail = imgrec.StatePending, "Nova status "+s.Status
	case s.Status == "MIGRATING" || s.Status == "PASSWORD" || s.Status == "VERIFY_RESIZE":
		in.State, in.Detail = imgrec.StateRunning, "Nova status "+s.Status
	default: // PAUSED, SUSPENDED, SHELVED, SHELVED_OFFLOADED, RESCUE, UNKNOWN, ...
		in.State, in.Detail = imgrec.StateStopping, "Nova status "+s.Status+": not one the provider uses; left alone"
	}
	if task != "" && in.Detail == "" {
		in.Detail = "task " + task
	}
	return in
}

// deleting says Nova is deleting s.
func deleting(s servers.Server) bool {
	return s.TaskState == "deleting" || s.TaskState == "soft-deleting"
}

// faultText is what Nova says went wrong with a server in ERROR.
func faultText(s servers.Server) string {
	f := strings.TrimSpace(s.Fault.Message)
	if f == "" {
		return "no fault recorded"
	}
	if s.Fault.Code != 0 {
		f += " (" + strconv.Itoa(s.Fault.Code) + ")"
	}
	return f
}
