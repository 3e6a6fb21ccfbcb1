//go:build v2

package app

import (
	"context"
	"fmt"

	upgradetypes "cosmossdk.io/x/upgrade/types"

	"github.com/cosmos/cosmos-sdk/types/module"
)

// UpgradeName is the software-upgrade plan this binary handles.
const UpgradeName = "v1tov2"

// UpgradeHandled reports whether this build applies UpgradeName (v2 builds).
func UpgradeHandled() bool { return handlesUpgrade }

const handlesUpgrade = true

// setUpgradeHandlers registers v1tov2. The checkers module's consensus version
// goes 1 -> 2, so RunMigrations calls its registered migration, which computes
// the leaderboard in place. No store is added: the leaderboard lives in the
// existing checkers store, so no StoreLoader is needed.
func (app *App) setUpgradeHandlers() {
	app.UpgradeKeeper.SetUpgradeHandler(UpgradeName,
		func(ctx context.Context, plan upgradetypes.Plan, fromVM module.VersionMap) (module.VersionMap, error) {
			app.Logger().Info("running v1tov2 migrations", "height", plan.Height)
			vm, err := app.ModuleManager.RunMigrations(ctx, app.configurator, fromVM)
			if err != nil {
				return nil, fmt.Errorf("v1tov2 migrations: %w", err)
			}
			return vm, nil
		})
}
