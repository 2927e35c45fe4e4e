#include "nn/check.hpp"

namespace nn {

void throw_error(const char* file, int line, const char* cond, const std::string& msg) {
    std::string where = cond ? str_cat("[check `", cond, "` failed at ", file, ":", line, "]")
                             : str_cat("[at ", file, ":", line, "]");
    throw Error(msg.empty() ? where : msg + " " + where);
}

}  // namespace nn
