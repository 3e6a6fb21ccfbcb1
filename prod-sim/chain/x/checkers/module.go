// Package checkers is a minimal checkers module: player infos from genesis
// (v1) and, from consensus version 2, a leaderboard added by an in-place store
// migration. Which version is built is chosen by the `v2` build tag.
package checkers

import (
	"encoding/json"
	"fmt"

	"cosmossdk.io/core/appmodule"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/module"

	"github.com/rehearse/checkers/x/checkers/client/cli"
	"github.com/rehearse/checkers/x/checkers/keeper"
	"github.com/rehearse/checkers/x/checkers/types"
)

var (
	_ module.AppModuleBasic      = AppModuleBasic{}
	_ module.HasGenesis          = AppModule{}
	_ module.HasServices         = AppModule{}
	_ module.HasConsensusVersion = AppModule{}
	_ appmodule.AppModule        = AppModule{}
)

// AppModuleBasic is the stateless part of the module.
type AppModuleBasic struct{}

func (AppModuleBasic) Name() string                                         { return types.ModuleName }
func (AppModuleBasic) RegisterLegacyAminoCodec(*codec.LegacyAmino)           {}
func (AppModuleBasic) RegisterInterfaces(codectypes.InterfaceRegistry)       {}
func (AppModuleBasic) RegisterGRPCGatewayRoutes(client.Context, *runtime.ServeMux) {}

// DefaultGenesis returns an empty player list.
func (AppModuleBasic) DefaultGenesis(codec.JSONCodec) json.RawMessage {
	bz, err := json.Marshal(types.DefaultGenesis())
	if err != nil {
		panic(err)
	}
	return bz
}

// ValidateGenesis checks the player list.
func (AppModuleBasic) ValidateGenesis(_ codec.JSONCodec, _ client.TxEncodingConfig, bz json.RawMessage) error {
	var gs types.GenesisState
	if err := json.Unmarshal(bz, &gs); err != nil {
		return fmt.Errorf("checkers genesis: %w", err)
	}
	return gs.Validate()
}

// GetQueryCmd returns `checkersd query checkers ...`.
func (AppModuleBasic) GetQueryCmd() *cobra.Command { return cli.GetQueryCmd(HasLeaderboard) }

// AppModule is the stateful part of the module.
type AppModule struct {
	AppModuleBasic
	keeper keeper.Keeper
}

// NewAppModule wires the module to its keeper.
func NewAppModule(k keeper.Keeper) AppModule { return AppModule{keeper: k} }

func (AppModule) IsOnePerModuleType() {}
func (AppModule) IsAppModule()        {}

// ConsensusVersion is 1 on v1 and 2 on v2 (see version_v*.go).
func (AppModule) ConsensusVersion() uint64 { return ConsensusVersion }

// RegisterServices registers the v1 -> v2 store migration on v2 builds.
func (am AppModule) RegisterServices(cfg module.Configurator) {
	registerMigrations(cfg, am.keeper)
}

// InitGenesis loads player infos (and a leaderboard when exported from v2).
func (am AppModule) InitGenesis(ctx sdk.Context, _ codec.JSONCodec, bz json.RawMessage) {
	var gs types.GenesisState
	if err := json.Unmarshal(bz, &gs); err != nil {
		panic(fmt.Errorf("checkers genesis: %w", err))
	}
	for _, p := range gs.PlayerInfoList {
		if err := am.keeper.SetPlayerInfo(ctx, p); err != nil {
			panic(err)
		}
	}
	if gs.Leaderboard != nil && HasLeaderboard {
		if err := am.keeper.SetLeaderboard(ctx, *gs.Leaderboard); err != nil {
			panic(err)
		}
	}
}

// ExportGenesis writes the module state back out.
func (am AppModule) ExportGenesis(ctx sdk.Context, _ codec.JSONCodec) json.RawMessage {
	players, err := am.keeper.GetAllPlayerInfo(ctx)
	if err != nil {
		panic(err)
	}
	gs := types.GenesisState{PlayerInfoList: players}
	if lb, ok, err := am.keeper.GetLeaderboard(ctx); err == nil && ok {
		gs.Leaderboard = &lb
	}
	bz, err := json.Marshal(gs)
	if err != nil {
		panic(err)
	}
	return bz
}
