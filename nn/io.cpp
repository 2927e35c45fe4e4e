#include "nn/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

void write_file_atomic(const std::string& path, const void* data, size_t n) {
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ENSURE(fd >= 0, path, ": cannot create temporary file ", tmp, ": ", std::strerror(errno));
    const auto* p = static_cast<const uint8_t*>(data);
    size_t done = 0;
    while (done < n) {
        ssize_t w = ::write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            RAISE(path, ": write failed after ", done, " of ", n, " bytes: ", std::strerror(err),
                  " (the previous version of the file, if any, is untouched)");
        }
        done += size_t(w);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        RAISE(path, ": cannot flush to disk: ", std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        RAISE(path, ": cannot rename temporary file into place: ", std::strerror(err));
    }
    int dfd = ::open(dirname(path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);  // makes the rename itself durable
        ::close(dfd);
    }
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

void check_writable_dir(const std::string& dir) {
    make_dirs(dir);
    std::string probe = join(dir, ".write-probe-" + std::to_string(::getpid()));
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ENSURE(fd >= 0, dir, ": output directory is not writable: ", std::strerror(errno));
    char block[4096] = {};
    bool ok = ::write(fd, block, sizeof block) == ssize_t(sizeof block) && ::fsync(fd) == 0;
    int err = errno;
    ::close(fd);
    ::unlink(probe.c_str());
    ENSURE(ok, dir, ": cannot write to output directory (disk full?): ", std::strerror(err));
}

}  // namespace nn::io
