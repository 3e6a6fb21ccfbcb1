//go:build !v2

package checkers

import (
	"github.com/cosmos/cosmos-sdk/types/module"

	"github.com/rehearse/checkers/x/checkers/keeper"
)

// ConsensusVersion of the v1 module: player infos only.
const ConsensusVersion = 1

// HasLeaderboard is false on v1: no show-leaderboard query, no migration.
const HasLeaderboard = false

func registerMigrations(module.Configurator, keeper.Keeper) {}
