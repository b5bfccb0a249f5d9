// step-ca 0.19.0 for bench/sidebyside.py. Debian's golang-github-smallstep-certificates-dev ships step-ca's
// library packages, including commands.AppCommand (the real `step-ca` start action), but not its cmd/ main
// package; this file is that main package reduced to what the benchmark runs: `step-ca CA_JSON
// --password-file FILE`, soft KMS, soft CAS.
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
	"go.step.sm/cli-utils/step"

	_ "github.com/smallstep/certificates/cas/softcas"
	_ "github.com/smallstep/certificates/kms/softkms"
)

func main() {
	step.Set("Smallstep CA", "0.19.0", "plica-bench")
	authority.GlobalVersion.Version = "0.19.0"
	app := cli.NewApp()
	app.Name = "step-ca"
	app.Usage = "step-ca 0.19.0 (Debian's library packages) for Plica's side-by-side benchmark"
	app.Flags = commands.AppCommand.Flags
	app.Action = commands.AppCommand.Action
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
