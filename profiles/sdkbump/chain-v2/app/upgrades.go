package app

import (
	"context"
	"fmt"

	storetypes "cosmossdk.io/store/types"
	circuittypes "cosmossdk.io/x/circuit/types"
	upgradetypes "cosmossdk.io/x/upgrade/types"

	"github.com/cosmos/cosmos-sdk/baseapp"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/module"
)

// UpgradeName is the software-upgrade plan this binary applies (v1 halts on it).
const UpgradeName = "v2-sdk50"

// CrisisStoreKey is x/crisis's store, which v1 (SDK v0.47) mounted and v2 drops.
// (Spelled out: v2 does not link x/crisis at all.)
const CrisisStoreKey = "crisis"

// StoreUpgrades are applied by the store loader at the upgrade height: circuit
// (new in SDK v0.50) gets an empty store, crisis's store is deleted.
var StoreUpgrades = storetypes.StoreUpgrades{
	Added:   []string{circuittypes.StoreKey},
	Deleted: []string{CrisisStoreKey},
}

// setUpgradeHandlers registers v2-sdk50 and, if the node is (re)starting at the
// upgrade height, the store loader that applies StoreUpgrades before the
// multistore loads. Must run before LoadLatestVersion.
func (app *App) setUpgradeHandlers() {
	app.UpgradeKeeper.SetUpgradeHandler(UpgradeName,
		func(ctx context.Context, plan upgradetypes.Plan, fromVM module.VersionMap) (module.VersionMap, error) {
			sdkCtx := sdk.UnwrapSDKContext(ctx)
			sdkCtx.Logger().Info("applying v2-sdk50: SDK v0.47 -> v0.50 migrations", "height", plan.Height)

			// Consensus params: an SDK v0.47 chain that wired x/consensus already holds
			// them there (bump v1 does, as v0.47 recommends). A chain still reading them
			// from baseapp's x/params subspace must copy them over, or v0.50 starts
			// without block/evidence/validator params. Only done when x/consensus is empty.
			if _, err := app.ConsensusParamsKeeper.ParamsStore.Get(ctx); err != nil {
				sdkCtx.Logger().Info("x/consensus holds no params: migrating them from x/params")
				legacy := app.GetSubspace(baseapp.Paramspace)
				if err := baseapp.MigrateParams(sdkCtx, legacy, app.ConsensusParamsKeeper.ParamsStore); err != nil {
					return nil, fmt.Errorf("v2-sdk50: consensus params migration: %w", err)
				}
			}

			// crisis is gone from the module manager: drop it from the version map so
			// the stored map matches the running modules. circuit is absent from
			// fromVM, so RunMigrations runs its InitGenesis (default genesis).
			delete(fromVM, CrisisStoreKey)
			vm, err := app.ModuleManager.RunMigrations(ctx, app.configurator, fromVM)
			if err != nil {
				return nil, fmt.Errorf("v2-sdk50 migrations: %w", err)
			}
			sdkCtx.Logger().Info("v2-sdk50 migrations done", "versions", fmt.Sprint(vm))
			return vm, nil
		})

	info, err := app.UpgradeKeeper.ReadUpgradeInfoFromDisk()
	if err != nil {
		panic(fmt.Errorf("read upgrade info from disk: %w", err))
	}
	if info.Name == UpgradeName && !app.UpgradeKeeper.IsSkipHeight(info.Height) {
		upgrades := StoreUpgrades
		app.SetStoreLoader(upgradeStoreLoader(info.Height, &upgrades))
	}
}

// upgradeStoreLoader is upgradetypes.UpgradeStoreLoader plus one thing: the
// multistore only wipes a Deleted store that is mounted (rootmulti.loadVersion
// walks the mounted keys), and v2 no longer mounts crisis. So, for the one load
// at the upgrade height, the old key is mounted again: its data is deleted and it
// leaves the commit info at H; later loads never mount it (mounting it after H
// would fail: "version of store crisis mismatch root store's version").
// Without this, Deleted is a silent no-op and crisis's data stays orphaned in the DB.
func upgradeStoreLoader(upgradeHeight int64, upgrades *storetypes.StoreUpgrades) baseapp.StoreLoader {
	return func(ms storetypes.CommitMultiStore) error {
		if upgradeHeight != ms.LastCommitID().Version+1 {
			return baseapp.DefaultStoreLoader(ms)
		}
		for _, name := range upgrades.Deleted {
			ms.MountStoreWithDB(storetypes.NewKVStoreKey(name), storetypes.StoreTypeIAVL, nil)
		}
		return upgradetypes.UpgradeStoreLoader(upgradeHeight, upgrades)(ms)
	}
}
