// Package cli holds the checkers query commands. They read the module store
// directly (ABCI query /store/checkers/...), since the module has no gRPC
// service.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/flags"

	"github.com/rehearse/checkers/x/checkers/types"
)

// GetQueryCmd returns the `checkers` query group.
func GetQueryCmd(withLeaderboard bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:                        types.ModuleName,
		Short:                      "Querying commands for the checkers module",
		DisableFlagParsing:         true,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(listPlayerInfoCmd())
	if withLeaderboard {
		cmd.AddCommand(showLeaderboardCmd())
	}
	return cmd
}

func listPlayerInfoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list-player-info",
		Short: "List every player's wins, losses and forfeits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			// QueryStore would append "/key"; a prefix scan is the store's "/subspace" query.
			resp, err := clientCtx.QueryABCI(abci.RequestQuery{
				Path: "/store/" + types.StoreKey + "/subspace",
				Data: []byte(types.PlayerInfoKeyPrefix),
			})
			if err != nil {
				return err
			}
			pairs, err := types.DecodeKVPairs(resp.Value)
			if err != nil {
				return fmt.Errorf("decode player infos: %w", err)
			}
			out := struct {
				PlayerInfo []types.PlayerInfo `json:"playerInfo"`
			}{PlayerInfo: []types.PlayerInfo{}}
			for _, p := range pairs {
				var info types.PlayerInfo
				if err := json.Unmarshal(p.Value, &info); err != nil {
					return fmt.Errorf("decode %q: %w", p.Key, err)
				}
				out.PlayerInfo = append(out.PlayerInfo, info)
			}
			return printOut(cmd, clientCtx, out)
		},
	}
	flags.AddQueryFlagsToCmd(cmd)
	return cmd
}

func showLeaderboardCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show-leaderboard",
		Short: "Show the leaderboard (top players by wins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clientCtx, err := client.GetClientQueryContext(cmd)
			if err != nil {
				return err
			}
			bz, _, err := clientCtx.QueryStore([]byte(types.LeaderboardKey), types.StoreKey)
			if err != nil {
				return err
			}
			if len(bz) == 0 {
				// A v1 chain (or a v2 chain before its migration) has no leaderboard.
				return errors.New("leaderboard not found: this chain has not run the v1tov2 migration")
			}
			var lb types.Leaderboard
			if err := json.Unmarshal(bz, &lb); err != nil {
				return fmt.Errorf("decode leaderboard: %w", err)
			}
			if lb.Winners == nil {
				lb.Winners = []types.WinningPlayer{}
			}
			return printOut(cmd, clientCtx, struct {
				Leaderboard types.Leaderboard `json:"Leaderboard"`
			}{lb})
		},
	}
	flags.AddQueryFlagsToCmd(cmd)
	return cmd
}

// printOut honours --output (text is YAML, as the SDK prints).
func printOut(cmd *cobra.Command, clientCtx client.Context, v any) error {
	bz, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if clientCtx.OutputFormat == flags.OutputFormatJSON {
		return clientCtx.PrintString(string(bz) + "\n")
	}
	y, err := yaml.JSONToYAML(bz)
	if err != nil {
		return err
	}
	return clientCtx.PrintString(string(y))
}
