// Command checkersd is the checkers chain daemon and CLI.
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"

	"github.com/rehearse/checkers/app"
	"github.com/rehearse/checkers/cmd/checkersd/cmd"
)

func main() {
	if err := svrcmd.Execute(cmd.NewRootCmd(), "CHECKERSD", app.DefaultNodeHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
