module forkfloor

go 1.24
