// Command bumpd is the bump chain daemon and CLI (v1: Cosmos SDK v0.47).
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"

	"github.com/rehearse/bump/v1/app"
	"github.com/rehearse/bump/v1/cmd/bumpd/cmd"
)

func main() {
	if err := svrcmd.Execute(cmd.NewRootCmd(), "BUMPD", app.DefaultNodeHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
