#include "nn/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "nn/check.hpp"

namespace nn::io {

std::vector<uint8_t> read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    ENSURE(fd >= 0, path, ": cannot open: ", std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        RAISE(path, ": not a regular file");
    }
    std::vector<uint8_t> data(size_t(st.st_size));
    size_t got = 0;
    while (got < data.size()) {
        ssize_t r = ::read(fd, data.data() + got, data.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = errno;
            ::close(fd);
            RAISE(path, ": read failed after ", got, " bytes: ", r == 0 ? "unexpected end of file" : std::strerror(err));
        }
        got += size_t(r);
    }
    ::close(fd);
    return data;
}

std::string read_text(const std::string& path) {
    auto bytes = read_file(path);
    return std::string(bytes.begin(), bytes.end());
}

bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

std::string dirname(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string join(const std::string& a, const std::string& b) {
    if (a.empty() || (!b.empty() && b[0] == '/')) return b;
    return a.back() == '/' ? a + b : a + "/" + b;
}

namespace {

void (*g_before_rename)(const std::string&) = nullptr;

std::string temp_name(const std::string& path) { return path + ".tmp-" + std::to_string(::getpid()); }

// Writes all n bytes (retrying short writes, which is how a nearly full disk first shows); returns 0
// or the errno of the failure, with `done` the bytes written.
int write_all(int fd, const void* data, size_t n, size_t& done) {
    const auto* p = static_cast<const uint8_t*>(data);
    done = 0;
    while (done < n) {
        ssize_t w = ::write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        if (w == 0) return EIO;
        done += size_t(w);
    }
    return 0;
}

void fsync_dir_of(const std::string& path) {
    int dfd = ::open(dirname(path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);  // makes the rename itself durable
        ::close(dfd);
    }
}

}  // namespace

void set_before_rename_hook(void (*hook)(const std::string& path)) { g_before_rename = hook; }

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    std::string tmp = temp_name(path);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ENSURE(fd >= 0, path, ": cannot create temporary file ", tmp, ": ", std::strerror(errno));
    size_t done = 0;
    int err = write_all(fd, data, n, done);
    if (err != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        RAISE(path, ": write failed after ", done, " of ", n, " bytes: ", std::strerror(err),
              " (the previous version of the file, if any, is untouched)");
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        RAISE(path, ": cannot flush to disk: ", std::strerror(err));
    }
    if (g_before_rename) g_before_rename(path);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        RAISE(path, ": cannot rename temporary file into place: ", std::strerror(err));
    }
    fsync_dir_of(path);
}

void link_atomic(const std::string& existing, const std::string& path) {
    std::string tmp = temp_name(path);
    ::unlink(tmp.c_str());
    if (::link(existing.c_str(), tmp.c_str()) != 0) {
        int err = errno;
        ENSURE(err == EPERM || err == EXDEV || err == ENOTSUP || err == EMLINK, path, ": cannot link to ", existing,
               ": ", std::strerror(err));
        std::vector<uint8_t> bytes = read_file(existing);  // no hard links here: copy instead
        write_file_atomic(path, bytes.data(), bytes.size());
        return;
    }
    if (g_before_rename) g_before_rename(path);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        RAISE(path, ": cannot rename temporary link into place: ", std::strerror(err));
    }
    fsync_dir_of(path);
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return names;
    while (const dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        struct stat st{};
        if (::lstat(join(dir, name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

int remove_stale_temp_files(const std::string& dir) {
    int removed = 0;
    for (const std::string& name : list_dir(dir)) {
        size_t at = name.rfind(".tmp-");
        if (at == std::string::npos || at == 0) continue;
        std::string digits = name.substr(at + 5);
        if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = pid_t(std::atol(digits.c_str()));
        // A live process (ours included) may still be writing it; kill(pid, 0) probes without a signal.
        if (pid <= 0 || (::kill(pid, 0) == 0 || errno != ESRCH)) continue;
        if (::unlink(join(dir, name).c_str()) == 0) removed++;
    }
    return removed;
}

void make_dirs(const std::string& path) {
    if (path.empty()) return;
    std::string cur;
    size_t i = 0;
    while (i <= path.size()) {
        size_t slash = path.find('/', i);
        if (slash == std::string::npos) slash = path.size();
        cur = path.substr(0, slash);
        if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
            RAISE(cur, ": cannot create directory: ", std::strerror(errno));
        i = slash + 1;
    }
    struct stat st{};
    ENSURE(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode), path, ": exists but is not a directory");
}

void check_writable_dir(const std::string& dir, uint64_t bytes_needed) {
    make_dirs(dir);
    std::string probe = temp_name(join(dir, ".write-probe"));  // removed by remove_stale_temp_files if we die
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ENSURE(fd >= 0, dir, ": output directory is not writable: ", std::strerror(errno));
    char block[4096] = {};
    size_t done = 0;
    int err = write_all(fd, block, sizeof block, done);
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    bool ok = err == 0;
    // posix_fallocate returns the error instead of setting errno.
    int reserve_err = ok && bytes_needed > 0 ? ::posix_fallocate(fd, 0, off_t(bytes_needed)) : 0;
    ::close(fd);
    ::unlink(probe.c_str());
    ENSURE(ok, dir, ": cannot write to output directory (disk full?): ", std::strerror(err));
    ENSURE(reserve_err == 0, dir, ": cannot reserve the ", bytes_needed, " bytes this run needs in the output directory: ",
           std::strerror(reserve_err), " (free some space, or choose another output directory)");
    struct statvfs vfs{};
    if (bytes_needed > 0 && ::statvfs(dir.c_str(), &vfs) == 0) {
        uint64_t avail = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
        ENSURE(avail >= bytes_needed, dir, ": output directory has ", avail, " bytes free but this run needs about ",
               bytes_needed, " (free some space, or choose another output directory)");
    }
}

std::vector<std::string> split_list(std::string_view text, char sep) {
    std::vector<std::string> fields;
    for (std::string& f : split(text, sep))
        if (!f.empty()) fields.push_back(std::move(f));
    return fields;
}

std::vector<std::string> split(std::string_view text, char sep) {
    std::vector<std::string> fields;
    for (size_t b = 0;;) {
        size_t e = text.find(sep, b);
        fields.emplace_back(text.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
        if (e == std::string_view::npos) return fields;
        b = e + 1;
    }
}

}  // namespace nn::io
