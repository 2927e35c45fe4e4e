// The experiment report. Each experiment's analysis is stored in its run folder (section.json plus
// its SVG figures), so shards, reruns and the report step can be separate processes. write_report
// gathers the sections of the whole suite, in registry order, into index.md (figures as files) and a
// standalone index.html (figures inline), headed by a table of every claim's verdict.
#pragma once

#include <string>

#include "experiments/harness.hpp"

namespace experiments {

void write_section(const std::string& run_dir, const Section& s);
Section read_section(const std::string& run_dir);

// Markdown and HTML renderings of one section (figure paths relative to the report folder).
std::string section_markdown(const Section& s, const std::string& figure_dir);
std::string section_html(const Section& s);

}  // namespace experiments
