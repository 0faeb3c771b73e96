package main

import (
	"sync"
	"sync/atomic"
)

// simPool is the simulation's callers: workers that make one quantum's
// calls at once.
type simPool struct {
	do    func(simTask)
	wake  []chan struct{}
	tasks []simTask
	next  atomic.Int64
	wg    sync.WaitGroup
}

func newSimPool(workers int, do func(simTask)) *simPool {
	p := &simPool{do: do, wake: make([]chan struct{}, workers)}
	for i := range p.wake {
		p.wake[i] = make(chan struct{})
		go p.work(p.wake[i])
	}
	return p
}

func (p *simPool) work(wake chan struct{}) {
	for range wake {
		for {
			i := p.next.Add(1) - 1
			if i >= int64(len(p.tasks)) {
				break
			}
			p.do(p.tasks[i])
		}
		p.wg.Done()
	}
}

// run makes the calls, at most one worker per call, and returns when all
// are done.
func (p *simPool) run(tasks []simTask) {
	if len(tasks) == 0 {
		return
	}
	p.tasks = tasks
	p.next.Store(0)
	n := min(len(p.wake), len(tasks))
	p.wg.Add(n)
	for _, w := range p.wake[:n] {
		w <- struct{}{}
	}
	p.wg.Wait()
}

func (p *simPool) close() {
	for _, w := range p.wake {
		close(w)
	}
}
