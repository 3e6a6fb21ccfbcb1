//go:build !v2

package app

// UpgradeName is the plan name v2 handles; v1 only knows it to say so.
const UpgradeName = "v1tov2"

// UpgradeHandled reports whether this build applies UpgradeName (v2 builds).
func UpgradeHandled() bool { return handlesUpgrade }

const handlesUpgrade = false

// setUpgradeHandlers registers nothing on v1: a v1 binary must halt at the
// upgrade height, not apply the upgrade.
func (app *App) setUpgradeHandlers() {}
