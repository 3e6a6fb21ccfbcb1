// Package keeper reads and writes the checkers store.
package keeper

import (
	"context"
	"encoding/json"
	"fmt"

	corestore "cosmossdk.io/core/store"
	storetypes "cosmossdk.io/store/types"

	"github.com/rehearse/checkers/x/checkers/types"
)

// Keeper owns the checkers KV store.
type Keeper struct {
	storeService corestore.KVStoreService
}

// NewKeeper returns a keeper over the given store.
func NewKeeper(storeService corestore.KVStoreService) Keeper {
	return Keeper{storeService: storeService}
}

// SetPlayerInfo stores one player record.
func (k Keeper) SetPlayerInfo(ctx context.Context, p types.PlayerInfo) error {
	bz, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return k.storeService.OpenKVStore(ctx).Set(types.PlayerInfoKey(p.Index), bz)
}

// GetAllPlayerInfo returns every player, in index order.
func (k Keeper) GetAllPlayerInfo(ctx context.Context) ([]types.PlayerInfo, error) {
	store := k.storeService.OpenKVStore(ctx)
	prefix := []byte(types.PlayerInfoKeyPrefix)
	it, err := store.Iterator(prefix, storetypes.PrefixEndBytes(prefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []types.PlayerInfo{}
	for ; it.Valid(); it.Next() {
		var p types.PlayerInfo
		if err := json.Unmarshal(it.Value(), &p); err != nil {
			return nil, fmt.Errorf("decode %q: %w", it.Key(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// SetLeaderboard stores the leaderboard.
func (k Keeper) SetLeaderboard(ctx context.Context, lb types.Leaderboard) error {
	if lb.Winners == nil {
		lb.Winners = []types.WinningPlayer{}
	}
	bz, err := json.Marshal(lb)
	if err != nil {
		return err
	}
	return k.storeService.OpenKVStore(ctx).Set([]byte(types.LeaderboardKey), bz)
}

// GetLeaderboard returns the leaderboard and whether one is stored.
func (k Keeper) GetLeaderboard(ctx context.Context) (types.Leaderboard, bool, error) {
	bz, err := k.storeService.OpenKVStore(ctx).Get([]byte(types.LeaderboardKey))
	if err != nil || bz == nil {
		return types.Leaderboard{}, false, err
	}
	var lb types.Leaderboard
	if err := json.Unmarshal(bz, &lb); err != nil {
		return types.Leaderboard{}, false, err
	}
	return lb, true, nil
}
