// Package userdirs owns where latchkey keeps its files for one user: the
// XDG base directories (state, config, data, runtime), each with a
// "latchkey" folder, and the name of the control socket in the runtime
// directory. The daemon creates and checks them; the client only finds the
// socket.
package userdirs
