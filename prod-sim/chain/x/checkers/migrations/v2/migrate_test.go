package v2_test

import (
	"fmt"
	"reflect"
	"testing"

	storetypes "cosmossdk.io/store/types"

	"github.com/cosmos/cosmos-sdk/runtime"
	"github.com/cosmos/cosmos-sdk/testutil"

	"github.com/rehearse/checkers/x/checkers/keeper"
	v2 "github.com/rehearse/checkers/x/checkers/migrations/v2"
	"github.com/rehearse/checkers/x/checkers/types"
)

// setup returns a keeper over a fresh in-memory store holding the given v1 state.
func setup(t *testing.T, players []types.PlayerInfo) (keeper.Keeper, func() types.Leaderboard) {
	t.Helper()
	key := storetypes.NewKVStoreKey(types.StoreKey)
	ctx := testutil.DefaultContext(key, storetypes.NewTransientStoreKey("transient_test"))
	k := keeper.NewKeeper(runtime.NewKVStoreService(key))
	for _, p := range players {
		if err := k.SetPlayerInfo(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := k.GetLeaderboard(ctx); ok {
		t.Fatal("v1 state must not hold a leaderboard")
	}
	if err := v2.Migrate(ctx, k); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return k, func() types.Leaderboard {
		lb, ok, err := k.GetLeaderboard(ctx)
		if err != nil || !ok {
			t.Fatalf("leaderboard after migration: ok=%v err=%v", ok, err)
		}
		return lb
	}
}

func TestMigrateEmptyStore(t *testing.T) {
	_, got := setup(t, nil)
	if lb := got(); len(lb.Winners) != 0 {
		t.Fatalf("empty store: want empty leaderboard, got %+v", lb)
	}
}

func TestMigrateOrdersByWinsAndBreaksTiesByIndex(t *testing.T) {
	players := []types.PlayerInfo{
		{Index: "carol", WonCount: 3, LostCount: 1},
		{Index: "alice", WonCount: 5},
		{Index: "bob", WonCount: 3, LostCount: 9, ForfeitedCount: 2},
		{Index: "dave", WonCount: 0, LostCount: 7},
		{Index: "aaron", WonCount: 3},
	}
	_, got := setup(t, players)
	want := []types.WinningPlayer{
		{PlayerAddress: "alice", WonCount: 5},
		{PlayerAddress: "aaron", WonCount: 3},
		{PlayerAddress: "bob", WonCount: 3},
		{PlayerAddress: "carol", WonCount: 3},
	}
	if lb := got(); !reflect.DeepEqual(lb.Winners, want) {
		t.Fatalf("leaderboard:\n got  %+v\n want %+v", lb.Winners, want)
	}
}

func TestMigrateKeepsTopNWhenMorePlayers(t *testing.T) {
	var players []types.PlayerInfo
	// 25 players; wins cycle so that the 10th and 11th places tie.
	for i := 0; i < 25; i++ {
		players = append(players, types.PlayerInfo{Index: fmt.Sprintf("p%02d", i), WonCount: uint64(i / 2)})
	}
	_, got := setup(t, players)
	lb := got()
	if len(lb.Winners) != types.LeaderboardWinnerLength {
		t.Fatalf("want %d winners, got %d", types.LeaderboardWinnerLength, len(lb.Winners))
	}
	// Highest wins first: p24 (12), then p22/p23 (11) by index, ...
	wantFirst := []string{"p24", "p22", "p23", "p20", "p21", "p18", "p19", "p16", "p17", "p14"}
	for i, w := range lb.Winners {
		if w.PlayerAddress != wantFirst[i] {
			t.Fatalf("place %d: got %s want %s (full %+v)", i, w.PlayerAddress, wantFirst[i], lb.Winners)
		}
	}
	// The tie across 10th place (p14 and p15, 7 wins) is cut by index: p15 is out.
	for _, w := range lb.Winners {
		if w.PlayerAddress == "p15" {
			t.Fatal("p15 should have been cut by the index tie rule")
		}
	}
}

func TestMigrateIsIndependentOfStoreOrder(t *testing.T) {
	a := []types.PlayerInfo{{Index: "z", WonCount: 2}, {Index: "y", WonCount: 2}, {Index: "x", WonCount: 1}}
	b := []types.PlayerInfo{a[2], a[0], a[1]}
	_, gotA := setup(t, a)
	_, gotB := setup(t, b)
	if !reflect.DeepEqual(gotA(), gotB()) {
		t.Fatal("leaderboard depends on insertion order")
	}
}

func TestMigratePreservesPlayerInfos(t *testing.T) {
	players := []types.PlayerInfo{{Index: "a", WonCount: 1, LostCount: 2, ForfeitedCount: 3}}
	key := storetypes.NewKVStoreKey(types.StoreKey)
	ctx := testutil.DefaultContext(key, storetypes.NewTransientStoreKey("transient_test"))
	k := keeper.NewKeeper(runtime.NewKVStoreService(key))
	if err := k.SetPlayerInfo(ctx, players[0]); err != nil {
		t.Fatal(err)
	}
	if err := v2.Migrate(ctx, k); err != nil {
		t.Fatal(err)
	}
	after, err := k.GetAllPlayerInfo(ctx)
	if err != nil || !reflect.DeepEqual(after, players) {
		t.Fatalf("player infos changed: %+v (err %v)", after, err)
	}
}
