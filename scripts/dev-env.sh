# Development settings for `lokihooks serve`. Source it, don't run it:
#
#     . scripts/dev-env.sh && go run ./cmd/lokihooks serve
#
# Only variables that are unset (or empty) get a development value; whatever is
# already in the environment is left alone. Works in bash and POSIX sh.
#
#   LOKIHOOKS_API_KEYS          random key generated once, kept in .dev/api-key (git-ignored)
#   LOKIHOOKS_ALLOW_HTTP        true  (allows plain-HTTP webhook targets)
#   LOKIHOOKS_ALLOWED_NETWORKS  127.0.0.0/8,::1/128  (lets the SSRF guard pass loopback)
#
# NEVER use these values in production.

_lokihooks_dev_env() {
    _ld_root=""
    if [ -n "${BASH_SOURCE:-}" ]; then
        _ld_root="$(cd "$(dirname "$BASH_SOURCE")/.." && pwd)"
    elif [ -n "${LOKIHOOKS_REPO_ROOT:-}" ]; then
        _ld_root="$LOKIHOOKS_REPO_ROOT"
    else
        _ld_root="$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
    fi

    _ld_applied=""

    if [ -z "${LOKIHOOKS_API_KEYS:-}" ]; then
        _ld_keyfile="$_ld_root/.dev/api-key"
        if [ ! -s "$_ld_keyfile" ]; then
            ( umask 077 && mkdir -p "$_ld_root/.dev" ) || {
                echo "dev-env: cannot create $_ld_root/.dev" >&2
                return 1
            }
            _ld_key="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
            if [ "${#_ld_key}" -ne 64 ]; then
                echo "dev-env: could not generate a random API key" >&2
                return 1
            fi
            ( umask 077 && printf '%s\n' "$_ld_key" >"$_ld_keyfile" ) || {
                echo "dev-env: cannot write $_ld_keyfile" >&2
                return 1
            }
        fi
        LOKIHOOKS_API_KEYS="$(tr -d ' \r\n' <"$_ld_keyfile")"
        export LOKIHOOKS_API_KEYS
        _ld_applied="$_ld_applied
##      LOKIHOOKS_API_KEYS=<development key from $_ld_keyfile>"
        _ld_show_key=1
    fi

    if [ -z "${LOKIHOOKS_SECRETS_KEY:-}" ]; then
        _ld_secfile="$_ld_root/.dev/secrets-key"
        if [ ! -s "$_ld_secfile" ]; then
            ( umask 077 && mkdir -p "$_ld_root/.dev" && head -c 32 /dev/urandom | base64 >"$_ld_secfile" ) || {
                echo "dev-env: cannot write $_ld_secfile" >&2
                return 1
            }
        fi
        LOKIHOOKS_SECRETS_KEY="$(tr -d ' \r\n' <"$_ld_secfile")"
        export LOKIHOOKS_SECRETS_KEY
        _ld_applied="$_ld_applied
##      LOKIHOOKS_SECRETS_KEY=<development key from $_ld_secfile>"
    fi

    if [ -z "${LOKIHOOKS_ALLOW_HTTP:-}" ]; then
        LOKIHOOKS_ALLOW_HTTP=true
        export LOKIHOOKS_ALLOW_HTTP
        _ld_applied="$_ld_applied
##      LOKIHOOKS_ALLOW_HTTP=true                       (HTTPS-only targets DISABLED)"
    fi

    if [ -z "${LOKIHOOKS_ALLOWED_NETWORKS:-}" ]; then
        LOKIHOOKS_ALLOWED_NETWORKS="127.0.0.0/8,::1/128"
        export LOKIHOOKS_ALLOWED_NETWORKS
        _ld_applied="$_ld_applied
##      LOKIHOOKS_ALLOWED_NETWORKS=127.0.0.0/8,::1/128  (SSRF guard DISABLED for loopback)"
    fi

    if [ -n "$_ld_applied" ]; then
        cat >&2 <<EOF

################################################################################
##  WARNING: DEVELOPMENT SETTINGS -- NEVER USE THESE IN PRODUCTION
##
##  scripts/dev-env.sh set the following development values:$_ld_applied
##
##  These are DEVELOPMENT values: they disable HTTPS-only webhook targets and
##  the SSRF guard for loopback addresses (127.0.0.0/8, ::1), and the API key
##  default is a development key stored in plain text in .dev/api-key.
##  They are for local development ONLY -- NEVER use them in production.
################################################################################

EOF
    fi

    if [ -n "${_ld_show_key:-}" ]; then
        echo "dev-env: development API key: $LOKIHOOKS_API_KEYS   (send: Authorization: Bearer <key>)" >&2
    fi

    unset _ld_root _ld_applied _ld_keyfile _ld_key _ld_show_key _ld_secfile
    return 0
}

# The status of this `if` is the status of sourcing the file.
if _lokihooks_dev_env; then
    unset -f _lokihooks_dev_env
    true
else
    unset -f _lokihooks_dev_env
    false
fi
