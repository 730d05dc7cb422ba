package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
)

// A controller serves what it saw on its last look at the fleet at
// instancesPath, beside /metrics; a web tier started with --controller-url
// shows those instances (with their providers) in /v1/status and on its
// page. The controller looks every second anyway, so web tiers asking cost
// no cloud API call. This file is the one home of that exchange.
const instancesPath = "/v1/instances"

// instancesStale is how old a controller's last look may be before a web
// tier says it cannot see the instances.
const instancesStale = 30 * time.Second

// instancesSnapshot is the controller's answer.
type instancesSnapshot struct {
	Time      time.Time         `json:"time"` // of the look
	Instances []imgrec.Instance `json:"instances"`
}

// lastLook keeps the controller's latest observation; its Observe is an
// autoscale.Controller.Observed.
type lastLook struct {
	mu   sync.Mutex
	snap *instancesSnapshot
}

func (l *lastLook) Observe(o autoscale.Observation, _ autoscale.Decision) {
	insts := o.Instances
	if insts == nil {
		insts = []imgrec.Instance{}
	}
	l.mu.Lock()
	l.snap = &instancesSnapshot{Time: o.Time, Instances: insts}
	l.mu.Unlock()
}

func (l *lastLook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	snap := l.snap
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if snap == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "the controller has not looked at its instances yet"})
		return
	}
	json.NewEncoder(w).Encode(snap)
}

// remoteInstances returns a lister of the instances the controller at base
// (its --metrics-addr as http://HOST:PORT) last saw.
func remoteInstances(base string) (func(context.Context) ([]imgrec.Instance, error), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--controller-url %q: want http://HOST:PORT, the controller's --metrics-addr", base)
	}
	target := strings.TrimSuffix(u.String(), "/") + instancesPath
	client := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context) ([]imgrec.Instance, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "instances from the controller")
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "instances from the controller: %s %s", target, resp.Status)
		}
		var snap instancesSnapshot
		if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
			return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "instances from the controller: %s", target)
		}
		if age := time.Since(snap.Time); age > instancesStale {
			return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "instances from the controller: its last look is %s old", age.Round(time.Second))
		}
		return snap.Instances, nil
	}, nil
}
