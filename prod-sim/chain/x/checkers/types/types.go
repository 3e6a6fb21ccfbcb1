// Package types holds the checkers module's state shapes, store keys and the
// leaderboard rule. State is JSON-encoded (encoding/json is deterministic for
// structs) so the module needs no protobuf code generation, and an outside
// reader can decode it from a raw ABCI store query.
package types

import (
	"fmt"
	"sort"
)

const (
	// ModuleName is also the store key and the query route.
	ModuleName = "checkers"
	StoreKey   = ModuleName

	// PlayerInfoKeyPrefix prefixes each player's record: PlayerInfo/value/<index>.
	PlayerInfoKeyPrefix = "PlayerInfo/value/"
	// LeaderboardKey holds the single leaderboard record (v2 and later).
	LeaderboardKey = "Leaderboard/value/"

	// LeaderboardWinnerLength is N in "top N players by wins".
	LeaderboardWinnerLength = 10
)

// PlayerInfo is one player's record, as in the checkers tutorial.
type PlayerInfo struct {
	Index          string `json:"index"`
	WonCount       uint64 `json:"wonCount"`
	LostCount      uint64 `json:"lostCount"`
	ForfeitedCount uint64 `json:"forfeitedCount"`
}

// WinningPlayer is one leaderboard row.
type WinningPlayer struct {
	PlayerAddress string `json:"playerAddress"`
	WonCount      uint64 `json:"wonCount"`
}

// Leaderboard is what the v1tov2 migration adds to state.
type Leaderboard struct {
	Winners []WinningPlayer `json:"winners"`
}

// GenesisState is the checkers section of genesis. Leaderboard is nil on v1.
type GenesisState struct {
	PlayerInfoList []PlayerInfo  `json:"playerInfoList"`
	Leaderboard    *Leaderboard `json:"leaderboard,omitempty"`
}

// DefaultGenesis has no players.
func DefaultGenesis() *GenesisState {
	return &GenesisState{PlayerInfoList: []PlayerInfo{}}
}

// Validate rejects empty and duplicated indexes.
func (gs GenesisState) Validate() error {
	seen := make(map[string]struct{}, len(gs.PlayerInfoList))
	for i, p := range gs.PlayerInfoList {
		if p.Index == "" {
			return fmt.Errorf("playerInfoList[%d]: empty index", i)
		}
		if _, dup := seen[p.Index]; dup {
			return fmt.Errorf("playerInfoList[%d]: duplicated index %q", i, p.Index)
		}
		seen[p.Index] = struct{}{}
	}
	return nil
}

// PlayerInfoKey is the store key of one player.
func PlayerInfoKey(index string) []byte {
	return []byte(PlayerInfoKeyPrefix + index)
}

// ComputeLeaderboard is the leaderboard rule, shared by the migration and by
// anyone who wants to check it:
//   - only players with at least one win are listed;
//   - ordered by wins, most first;
//   - ties on wins are broken by index, ascending byte order (so the result
//     does not depend on the order players were stored in);
//   - at most n rows; a tie across the n-th place is cut by the same order.
func ComputeLeaderboard(players []PlayerInfo, n int) Leaderboard {
	winners := make([]WinningPlayer, 0, len(players))
	for _, p := range players {
		if p.WonCount == 0 {
			continue
		}
		winners = append(winners, WinningPlayer{PlayerAddress: p.Index, WonCount: p.WonCount})
	}
	sort.SliceStable(winners, func(i, j int) bool {
		if winners[i].WonCount != winners[j].WonCount {
			return winners[i].WonCount > winners[j].WonCount
		}
		return winners[i].PlayerAddress < winners[j].PlayerAddress
	})
	if n >= 0 && len(winners) > n {
		winners = winners[:n]
	}
	return Leaderboard{Winners: winners}
}
