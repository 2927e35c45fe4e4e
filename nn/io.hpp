// File helpers with errors that name the file: whole-file reads, atomic writes (temp file, fsync,
// rename, directory fsync, so a crash leaves either the old file or the new one, never half of
// one), atomic hard links, directory creation, a writability and free-space probe, and the clean-up
// of temporary files left behind by killed processes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nn::io {

std::vector<uint8_t> read_file(const std::string& path);
std::string read_text(const std::string& path);
bool exists(const std::string& path);
// Writes via "<path>.tmp-<pid>" then rename; throws naming the path (and errno text) on failure and
// removes the temporary file.
void write_file_atomic(const std::string& path, const void* data, size_t n);
inline void write_text_atomic(const std::string& path, std::string_view text) {
    write_file_atomic(path, text.data(), text.size());
}
// Makes `path` name the same file as `existing` (a hard link made under a temporary name, then
// renamed over `path`, then a directory fsync). Copies atomically where hard links are unsupported.
void link_atomic(const std::string& existing, const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p
// Fails early, naming the directory, if a file cannot be created there (read-only, missing, full).
// With bytes_needed > 0 it also reserves a file of that size (posix_fallocate, so a full disk, a quota
// or a file-size limit shows now rather than mid-run) and checks the free space reported by statvfs.
void check_writable_dir(const std::string& dir, uint64_t bytes_needed = 0);
// Removes "<name>.tmp-<pid>" files in `dir` whose process no longer runs (left by a killed writer);
// returns how many were removed.
int remove_stale_temp_files(const std::string& dir);
// Regular files of `dir` (names only, sorted); empty if the directory does not exist.
std::vector<std::string> list_dir(const std::string& dir);
// Fault injection for the crash tests: when set, write_file_atomic and link_atomic call it with the
// destination path after the temporary file is complete and durable, just before the rename.
void set_before_rename_hook(void (*hook)(const std::string& path));
std::string dirname(const std::string& path);
std::string join(const std::string& a, const std::string& b);
// The fields of `text` between separators, empty ones included ("a,,b" -> a, "", b; "" -> one empty
// field): for rows of a file, where a field's position matters.
std::vector<std::string> split(std::string_view text, char sep);
// The non-empty fields only ("a,,b," -> a, b; "" -> none): for lists typed on a command line.
std::vector<std::string> split_list(std::string_view text, char sep);

}  // namespace nn::io
