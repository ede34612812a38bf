package sqlitestore

import (
	"testing"

	"github.com/latchkey/latchkey/vault/store/storecontract"
)

func TestContract(t *testing.T) {
	t.Parallel()
	storecontract.Run(t, func(t *testing.T) storecontract.Store { return openTest(t) })
}
