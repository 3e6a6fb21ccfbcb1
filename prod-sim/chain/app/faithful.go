//go:build !divergent

package app

import (
	storetypes "cosmossdk.io/store/types"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// The real build: the ante handler as the SDK makes it (divergent.go is the
// deliberately wrong one).
func diverge(next sdk.AnteHandler, _ *storetypes.KVStoreKey) sdk.AnteHandler { return next }
