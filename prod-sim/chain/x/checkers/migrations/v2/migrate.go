// Package v2 holds the in-place store migration from checkers consensus
// version 1 to 2: it computes the leaderboard from the v1 player infos.
package v2

import (
	"context"

	"github.com/rehearse/checkers/x/checkers/keeper"
	"github.com/rehearse/checkers/x/checkers/types"
)

// Migrate reads every player info written under v1 and stores the leaderboard
// that the rule in types.ComputeLeaderboard gives for them. An empty store
// yields an empty (but present) leaderboard.
func Migrate(ctx context.Context, k keeper.Keeper) error {
	players, err := k.GetAllPlayerInfo(ctx)
	if err != nil {
		return err
	}
	return k.SetLeaderboard(ctx, types.ComputeLeaderboard(players, types.LeaderboardWinnerLength))
}
