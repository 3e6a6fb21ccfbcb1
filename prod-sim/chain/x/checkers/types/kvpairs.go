package types

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// KVPair is one entry of a /store/<name>/subspace ABCI query answer.
type KVPair struct {
	Key   []byte
	Value []byte
}

// DecodeKVPairs decodes the answer of an ABCI /store/<name>/subspace query:
// the store's internal kv.Pairs message (field 1: repeated Pair; Pair field 1:
// key bytes, field 2: value bytes). The SDK keeps that type internal, so it is
// decoded here with protowire.
func DecodeKVPairs(bz []byte) ([]KVPair, error) {
	var out []KVPair
	for len(bz) > 0 {
		num, typ, n := protowire.ConsumeTag(bz)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		bz = bz[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, bz)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			bz = bz[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(bz)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		bz = bz[n:]
		pair, err := decodePair(msg)
		if err != nil {
			return nil, err
		}
		out = append(out, pair)
	}
	return out, nil
}

func decodePair(bz []byte) (KVPair, error) {
	var p KVPair
	for len(bz) > 0 {
		num, typ, n := protowire.ConsumeTag(bz)
		if n < 0 {
			return p, protowire.ParseError(n)
		}
		bz = bz[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, bz)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			bz = bz[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(bz)
		if n < 0 {
			return p, protowire.ParseError(n)
		}
		bz = bz[n:]
		switch num {
		case 1:
			p.Key = append([]byte(nil), v...)
		case 2:
			p.Value = append([]byte(nil), v...)
		}
	}
	if p.Key == nil {
		return p, errors.New("kv pair without key")
	}
	return p, nil
}
