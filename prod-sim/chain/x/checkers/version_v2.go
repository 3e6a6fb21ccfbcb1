//go:build v2

package checkers

import (
	"fmt"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/module"

	"github.com/rehearse/checkers/x/checkers/keeper"
	v2 "github.com/rehearse/checkers/x/checkers/migrations/v2"
)

// ConsensusVersion of the v2 module: adds the leaderboard.
const ConsensusVersion = 2

// HasLeaderboard is true on v2.
const HasLeaderboard = true

func registerMigrations(cfg module.Configurator, k keeper.Keeper) {
	err := cfg.RegisterMigration("checkers", 1, func(ctx sdk.Context) error {
		return v2.Migrate(ctx, k)
	})
	if err != nil {
		panic(fmt.Errorf("register checkers migration 1->2: %w", err))
	}
}
