//go:build divergent

package app

import (
	"encoding/binary"

	storetypes "cosmossdk.io/store/types"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// A deliberately wrong build, for the rehearsal's mixed-binary scenario: one
// validator runs it while the others run the real binary. It differs only when a
// transaction is delivered, as a badly built or hand-patched binary would (the
// persistence and Paloma postmortems): each delivered transaction also writes a
// counter to the checkers store, so the app hash after any block with
// transactions differs from the other nodes', and blocks without any agree.

// divergentKey lies outside every key the checkers module reads.
var divergentKey = []byte("divergent/delivered")

func diverge(next sdk.AnteHandler, key *storetypes.KVStoreKey) sdk.AnteHandler {
	return func(ctx sdk.Context, tx sdk.Tx, simulate bool) (sdk.Context, error) {
		ctx, err := next(ctx, tx, simulate)
		if err != nil || simulate || ctx.ExecMode() != sdk.ExecModeFinalize {
			return ctx, err
		}
		store := ctx.KVStore(key)
		n := uint64(0)
		if bz := store.Get(divergentKey); len(bz) == 8 {
			n = binary.BigEndian.Uint64(bz)
		}
		store.Set(divergentKey, binary.BigEndian.AppendUint64(nil, n+1))
		return ctx, nil
	}
}
