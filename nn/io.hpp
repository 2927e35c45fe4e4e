// File helpers with errors that name the file: whole-file reads, atomic writes (temp file, fsync,
// rename, directory fsync, so a crash leaves either the old file or the new one, never half of
// one), directory creation and a writability probe.
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
void make_dirs(const std::string& path);  // mkdir -p
// Fails early, naming the directory, if a file cannot be created there (read-only, missing, full).
void check_writable_dir(const std::string& dir);
std::string dirname(const std::string& path);
std::string join(const std::string& a, const std::string& b);

}  // namespace nn::io
