package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/secretbox"
)

func TestBox(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, secretbox.KeySize)
	box, err := secretbox.New(key)
	require.NoError(t, err)

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		sealed := box.Seal("whsec_abc")
		require.True(t, strings.HasPrefix(sealed, "enc:v1:"))
		require.NotContains(t, sealed, "whsec_abc")
		require.NotEqual(t, sealed, box.Seal("whsec_abc"), "a fresh nonce each time")
		plain, err := box.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, "whsec_abc", plain)
		require.Equal(t, sealed, box.Seal(sealed), "sealing twice is a no-op")
	})

	t.Run("PlainTextOpensAsItself", func(t *testing.T) {
		t.Parallel()
		plain, err := box.Open("whsec_legacy")
		require.NoError(t, err)
		require.Equal(t, "whsec_legacy", plain)
	})

	t.Run("NilBoxIsPlainText", func(t *testing.T) {
		t.Parallel()
		var none *secretbox.Box
		require.Equal(t, "whsec_x", none.Seal("whsec_x"))
		_, err := none.Open(box.Seal("whsec_x"))
		require.ErrorIs(t, err, secretbox.ErrNoKey)
	})

	t.Run("WrongKeyOrTampered", func(t *testing.T) {
		t.Parallel()
		other, err := secretbox.New(bytes.Repeat([]byte{8}, secretbox.KeySize))
		require.NoError(t, err)
		sealed := box.Seal("whsec_abc")
		_, err = other.Open(sealed)
		require.Error(t, err)
		_, err = box.Open(sealed[:len(sealed)-2] + "AA")
		require.Error(t, err)
		_, err = box.Open("enc:v1:!!")
		require.Error(t, err)
	})

	t.Run("Parse", func(t *testing.T) {
		t.Parallel()
		b, err := secretbox.Parse(base64.StdEncoding.EncodeToString(key))
		require.NoError(t, err)
		plain, err := b.Open(box.Seal("s"))
		require.NoError(t, err)
		require.Equal(t, "s", plain)
		_, err = secretbox.Parse(base64.StdEncoding.EncodeToString(key[:16]))
		require.Error(t, err)
		_, err = secretbox.Parse("not base64 !")
		require.Error(t, err)
	})
}

func TestBox_Rotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := bytes.Repeat([]byte{1}, secretbox.KeySize), bytes.Repeat([]byte{2}, secretbox.KeySize)
	old, err := secretbox.New(oldKey)
	require.NoError(t, err)
	both, err := secretbox.New(newKey, oldKey)
	require.NoError(t, err)
	onlyNew, err := secretbox.New(newKey)
	require.NoError(t, err)
	require.Equal(t, 2, both.Keys())

	t.Run("OpensWithAnyKey", func(t *testing.T) {
		t.Parallel()
		for _, sealed := range []string{old.Seal("whsec_old"), both.Seal("whsec_old")} {
			plain, err := both.Open(sealed)
			require.NoError(t, err)
			require.Equal(t, "whsec_old", plain)
		}
		_, err := onlyNew.Open(old.Seal("x"))
		require.ErrorIs(t, err, secretbox.ErrWrongKey)
	})

	t.Run("SealsWithTheCurrentKey", func(t *testing.T) {
		t.Parallel()
		plain, err := onlyNew.Open(both.Seal("whsec_new"))
		require.NoError(t, err)
		require.Equal(t, "whsec_new", plain)
	})

	t.Run("Reseal", func(t *testing.T) {
		t.Parallel()
		sealed := old.Seal("whsec_r")
		again, changed, err := both.Reseal(sealed)
		require.NoError(t, err)
		require.True(t, changed)
		require.NotContains(t, again, "whsec_r")
		plain, err := onlyNew.Open(again)
		require.NoError(t, err)
		require.Equal(t, "whsec_r", plain)

		same, changed, err := both.Reseal(again)
		require.NoError(t, err)
		require.False(t, changed, "already under the current key")
		require.Equal(t, again, same)

		fromPlain, changed, err := both.Reseal("whsec_plain")
		require.NoError(t, err)
		require.True(t, changed, "plain text gets sealed")
		require.NotContains(t, fromPlain, "whsec_plain")

		_, _, err = onlyNew.Reseal(sealed)
		require.ErrorIs(t, err, secretbox.ErrWrongKey)

		var none *secretbox.Box
		v, changed, err := none.Reseal("x")
		require.NoError(t, err)
		require.False(t, changed)
		require.Equal(t, "x", v)
	})

	t.Run("ParsePrevious", func(t *testing.T) {
		t.Parallel()
		b, err := secretbox.Parse(base64.StdEncoding.EncodeToString(newKey), base64.StdEncoding.EncodeToString(oldKey))
		require.NoError(t, err)
		plain, err := b.Open(old.Seal("p"))
		require.NoError(t, err)
		require.Equal(t, "p", plain)
		_, err = secretbox.Parse(base64.StdEncoding.EncodeToString(newKey), "short")
		require.Error(t, err)
	})
}
