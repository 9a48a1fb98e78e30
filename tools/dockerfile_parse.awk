# Reads a Dockerfile and prints one tab-separated record per fact that
# tools/check_image_deps.sh needs, so the package lists stay in the
# Dockerfile alone:
#   from    STAGE IMAGE
#   pkg     STAGE PACKAGE        (each argument of an `apt-get install`)
#   copy    STAGE FROM SRC... DEST   (FROM is "-" for the build context)
#   run     STAGE COMMAND
#   workdir STAGE DIR
# STAGE is the stage's `AS` name, or its index when it has none.
# Continuation lines are joined and comment lines dropped, as Docker does.

function flush(    n, words, i, instr, rest, segs, s, k, toks, t, j, seen_install, from, args) {
    if (logical == "")
        return
    sub(/^[ \t]+/, "", logical)
    n = split(logical, words, /[ \t]+/)
    instr = toupper(words[1])
    rest = logical
    sub(/^[^ \t]+[ \t]*/, "", rest)
    if (instr == "FROM") {
        stage_index++
        stage = stage_index
        for (i = 2; i <= n; i++)
            if (toupper(words[i]) == "AS" && i < n)
                stage = words[i + 1]
        image = ""
        for (i = 2; i <= n; i++)
            if (words[i] !~ /^--/) { image = words[i]; break }
        printf "from\t%s\t%s\n", stage, image
    } else if (instr == "RUN") {
        printf "run\t%s\t%s\n", stage, rest
        # Split the shell line into simple commands and read apt installs.
        k = split(rest, segs, /&&|\|\||;/)
        for (s = 1; s <= k; s++) {
            t = split(segs[s], toks, /[ \t]+/)
            seen_install = 0
            for (j = 1; j <= t; j++) {
                if (toks[j] == "")
                    continue
                if (!seen_install) {
                    if (toks[j] == "install" && j > 1 && (toks[j - 1] == "apt-get" || toks[j - 1] == "apt" || toks[j - 1] ~ /^-/))
                        seen_install = segs[s] ~ /apt(-get)?[ \t]/
                    continue
                }
                if (toks[j] ~ /^-/)
                    continue
                printf "pkg\t%s\t%s\n", stage, toks[j]
            }
        }
    } else if (instr == "COPY" || instr == "ADD") {
        from = "-"
        args = ""
        for (i = 2; i <= n; i++) {
            if (words[i] ~ /^--from=/) {
                from = substr(words[i], 8)
                continue
            }
            if (words[i] ~ /^--/)
                continue
            args = args "\t" words[i]
        }
        printf "copy\t%s\t%s%s\n", stage, from, args
    } else if (instr == "WORKDIR") {
        printf "workdir\t%s\t%s\n", stage, rest
    }
    logical = ""
}

BEGIN { stage_index = -1; stage = "-"; logical = "" }

/^[ \t]*#/ { next }

{
    line = $0
    sub(/\r$/, "", line)
    if (line ~ /\\[ \t]*$/) {
        sub(/\\[ \t]*$/, "", line)
        logical = logical " " line
        next
    }
    logical = logical " " line
    flush()
}

END { flush() }
