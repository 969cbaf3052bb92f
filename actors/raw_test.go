package actors

import "github.com/otpsv/otpsv/actors/proc"

func startRaw(path string) (int, error) {
	p, err := proc.Start(proc.Spec{Argv: []string{path, "600"}})
	if err != nil {
		return 0, err
	}
	return p.Pid, nil
}
