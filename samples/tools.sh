# Sourced by the sample scripts: installs, with apt-get, the Debian packages whose commands are
# missing. Each argument is COMMAND:PACKAGE; a command in /usr/sbin counts as present.
need_tools() {
    local t missing=()
    for t in "$@"; do
        command -v "${t%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${t%%:*} ]] || missing+=("${t#*:}")
    done
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
