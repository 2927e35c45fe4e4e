#!/usr/bin/env bash
# Prepares the datasets shipped by Debian into the data cache (default data/cache, or $1):
#   fashion-mnist/  decompressed IDX files from the package dataset-fashion-mnist
#   kjv/kjv.tsv     the King James Bible from the package bible-kjv: ref<TAB>book<TAB>genre<TAB>text,
#                   one line per verse (31,102), genre one of 8 book groups (see below)
#   fortunes/fortunes.tsv  the package fortunes: category<TAB>text, one line per fortune
# Idempotent: a file already prepared is left alone. Writes go to a temporary name first, so an
# interrupted run never leaves a truncated file behind. Text is passed through byte for byte (the
# readers replace and count invalid UTF-8).
set -euo pipefail

out="${1:-$(dirname "$0")/cache}"
fmnist_src=/usr/share/datasets/fashion-mnist
mkdir -p "$out/fashion-mnist" "$out/kjv" "$out/fortunes"

for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    src="$fmnist_src/$name.gz"
    dst="$out/fashion-mnist/$name"
    if [ ! -f "$src" ]; then
        echo "prepare: $src is missing; install the Debian package dataset-fashion-mnist (make setup)" >&2
        exit 1
    fi
    # gzip stores the uncompressed size (mod 2^32) in its last four bytes; these files are < 4 GiB.
    want=$(gzip -l "$src" | awk 'NR==2 {print $2}')
    if [ -f "$dst" ] && [ "$(stat -c %s "$dst")" = "$want" ]; then continue; fi
    gunzip -c "$src" > "$dst.tmp"
    mv "$dst.tmp" "$dst"
    echo "prepare: wrote $dst"
done

# King James Bible. Without -f, `bible` prints "Ge1:1 In the beginning ..." one verse per line; a
# line that does not start with a reference continues the previous verse (the program wraps long
# verses when asked to with -l, and we accept that too). Books are numbered in order of appearance
# (Genesis = 1 ... Revelation = 66), which gives the full name and the genre:
#   law 1-5 (Genesis-Deuteronomy), history 6-17 (Joshua-Esther), wisdom 18-22 (Job-Song of Solomon),
#   major_prophets 23-27 (Isaiah-Daniel), minor_prophets 28-39 (Hosea-Malachi), gospels_acts 40-44
#   (Matthew-Acts), pauline 45-57 (Romans-Philemon), general_revelation 58-66 (Hebrews-Revelation).
kjv="$out/kjv/kjv.tsv"
if [ ! -f "$kjv" ] || [ "$(wc -l < "$kjv")" != 31102 ]; then
    if ! command -v bible >/dev/null; then
        echo "prepare: the program 'bible' is missing; install the Debian package bible-kjv (make setup)" >&2
        exit 1
    fi
    bible -f "gen1:1-rev22:21" | awk -v OFS='\t' '
        BEGIN {
            n = split("Genesis|Exodus|Leviticus|Numbers|Deuteronomy|Joshua|Judges|Ruth|1 Samuel|2 Samuel|" \
                      "1 Kings|2 Kings|1 Chronicles|2 Chronicles|Ezra|Nehemiah|Esther|Job|Psalms|Proverbs|" \
                      "Ecclesiastes|Song of Solomon|Isaiah|Jeremiah|Lamentations|Ezekiel|Daniel|Hosea|Joel|" \
                      "Amos|Obadiah|Jonah|Micah|Nahum|Habakkuk|Zephaniah|Haggai|Zechariah|Malachi|Matthew|" \
                      "Mark|Luke|John|Acts|Romans|1 Corinthians|2 Corinthians|Galatians|Ephesians|Philippians|" \
                      "Colossians|1 Thessalonians|2 Thessalonians|1 Timothy|2 Timothy|Titus|Philemon|Hebrews|" \
                      "James|1 Peter|2 Peter|1 John|2 John|3 John|Jude|Revelation", name, "|")
            if (n != 66) { print "prepare: internal error: book table" > "/dev/stderr"; exit 1 }
            books = 0; ref = ""
        }
        function genre(i) {
            return i <= 5 ? "law" : i <= 17 ? "history" : i <= 22 ? "wisdom" : i <= 27 ? "major_prophets" : \
                   i <= 39 ? "minor_prophets" : i <= 44 ? "gospels_acts" : i <= 57 ? "pauline" : "general_revelation"
        }
        function flush() {
            if (ref == "") return
            gsub(/[ \t]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text)
            print ref, name[books], genre(books), text
        }
        /^[1-3]?[A-Za-z]+[0-9]+:[0-9]+( |$)/ {
            flush()
            ref = $1
            abbr = ref; sub(/[0-9]+:[0-9]+$/, "", abbr)
            if (abbr != last_abbr) { books++; last_abbr = abbr }
            if (books > 66) { print "prepare: more than 66 books in the output of bible" > "/dev/stderr"; exit 1 }
            text = substr($0, length(ref) + 2)
            next
        }
        {
            if (ref == "") { print "prepare: unexpected first line from bible: " $0 > "/dev/stderr"; exit 1 }
            text = text " " $0
        }
        END { flush(); if (books != 66) { print "prepare: found " books " books, expected 66" > "/dev/stderr"; exit 1 } }
    ' > "$kjv.tmp"
    lines=$(wc -l < "$kjv.tmp")
    if [ "$lines" != 31102 ]; then
        echo "prepare: bible printed $lines verses, expected 31102; is bible-kjv complete?" >&2
        rm -f "$kjv.tmp"
        exit 1
    fi
    mv "$kjv.tmp" "$kjv"
    echo "prepare: wrote $kjv"
fi

# fortunes: every category file (one with a strfile index <category>.dat next to it); entries are
# separated by lines holding only "%"; an entry's lines are joined with single spaces.
fortunes_src=/usr/share/games/fortunes
fortunes="$out/fortunes/fortunes.tsv"
if [ ! -f "$fortunes" ]; then
    if [ ! -d "$fortunes_src" ]; then
        echo "prepare: $fortunes_src is missing; install the Debian package fortunes (make setup)" >&2
        exit 1
    fi
    : > "$fortunes.tmp"
    for dat in "$fortunes_src"/*.dat; do
        src="${dat%.dat}"
        [ -f "$src" ] || continue
        awk -v OFS='\t' -v cat="$(basename "$src")" '
            function flush() {
                gsub(/[ \t\r]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text)
                if (text != "") print cat, text
                text = ""
            }
            /^%[ \t\r]*$/ { flush(); next }
            { text = text " " $0 }
            END { flush() }
        ' "$src" >> "$fortunes.tmp"
    done
    if [ ! -s "$fortunes.tmp" ]; then
        echo "prepare: no fortunes found in $fortunes_src" >&2
        rm -f "$fortunes.tmp"
        exit 1
    fi
    mv "$fortunes.tmp" "$fortunes"
    echo "prepare: wrote $fortunes ($(wc -l < "$fortunes") fortunes)"
fi
