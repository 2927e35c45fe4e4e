#include "experiments/report.hpp"

#include <ctime>
#include <filesystem>

#include "experiments/plot.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/json.hpp"

namespace experiments {

namespace {

using nn::json::quote;

using plot::xml_escape;

std::string md_cell(const std::string& s) {
    std::string o;
    for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
    return o;
}

std::string md_table(const Table& t) {
    std::string o = "|";
    for (auto& c : t.columns()) o += " " + md_cell(c) + " |";
    o += "\n|";
    for (size_t i = 0; i < t.columns().size(); i++) o += "---|";
    o += "\n";
    for (size_t r = 0; r < t.size(); r++) {
        o += "|";
        for (auto& v : t.row(r)) o += " " + md_cell(v) + " |";
        o += "\n";
    }
    return o;
}

std::string html_table(const Table& t) {
    std::string o = "<table><thead><tr>";
    for (auto& c : t.columns()) o += "<th>" + xml_escape(c) + "</th>";
    o += "</tr></thead><tbody>\n";
    for (size_t r = 0; r < t.size(); r++) {
        o += "<tr>";
        for (auto& v : t.row(r)) o += "<td>" + xml_escape(v) + "</td>";
        o += "</tr>\n";
    }
    return o + "</tbody></table>\n";
}

const std::string& str_member(const nn::json::Value& v, const char* key, const std::string& what) {
    const nn::json::Value* m = v.find(key);
    ENSURE(m && m->is_string(), what, ": missing string field '", key, "'");
    return m->text;
}

std::string verdict_class(const std::string& v) {
    if (v == "holds") return "holds";
    if (v == "holds partly") return "partly";
    return "fails";
}

}  // namespace

void write_section(const std::string& run_dir, const Section& s) {
    std::string j = "{\"experiment\": " + quote(s.experiment) + ", \"title\": " + quote(s.title) +
                    ", \"setup\": " + quote(s.setup) + ", \"figures\": [";
    for (size_t i = 0; i < s.figures.size(); i++) {
        nn::io::write_text_atomic(nn::io::join(run_dir, s.figures[i].file), s.figures[i].svg);
        j += (i ? ", " : "") + std::string("{\"file\": ") + quote(s.figures[i].file) + ", \"caption\": " +
             quote(s.figures[i].caption) + "}";
    }
    j += "], \"tables\": [";
    for (size_t i = 0; i < s.tables.size(); i++)
        j += (i ? ", " : "") + std::string("{\"caption\": ") + quote(s.tables[i].caption) + ", \"csv\": " +
             quote(s.tables[i].table.csv()) + "}";
    j += "], \"verdicts\": [";
    for (size_t i = 0; i < s.verdicts.size(); i++) {
        const Verdict& v = s.verdicts[i];
        j += (i ? ", " : "") + std::string("{\"claim\": ") + quote(v.claim) + ", \"statement\": " + quote(v.statement) +
             ", \"verdict\": " + quote(v.verdict) + ", \"rule\": " + quote(v.rule) + ", \"evidence\": " +
             quote(v.evidence) + "}";
    }
    j += "], \"notes\": [";
    for (size_t i = 0; i < s.notes.size(); i++) j += (i ? ", " : "") + quote(s.notes[i]);
    j += "]}\n";
    nn::io::write_text_atomic(nn::io::join(run_dir, "section.json"), j);
}

Section read_section(const std::string& run_dir) {
    std::string path = nn::io::join(run_dir, "section.json");
    nn::json::Value v = nn::json::parse(nn::io::read_text(path), path);
    Section s;
    s.experiment = str_member(v, "experiment", path);
    s.title = str_member(v, "title", path);
    s.setup = str_member(v, "setup", path);
    for (auto& f : v.find("figures")->items) {
        Figure fig{str_member(f, "file", path), str_member(f, "caption", path), ""};
        fig.svg = nn::io::read_text(nn::io::join(run_dir, fig.file));
        s.figures.push_back(fig);
    }
    for (auto& t : v.find("tables")->items)
        s.tables.push_back({str_member(t, "caption", path), Table::parse_csv(str_member(t, "csv", path), path)});
    for (auto& x : v.find("verdicts")->items)
        s.verdicts.push_back({str_member(x, "claim", path), str_member(x, "statement", path), str_member(x, "verdict", path),
                              str_member(x, "rule", path), str_member(x, "evidence", path)});
    for (auto& n : v.find("notes")->items) s.notes.push_back(n.text);
    return s;
}

std::string section_markdown(const Section& s, const std::string& figure_dir) {
    std::string o = "## " + s.title + "\n\n";
    if (!s.setup.empty()) o += "**Setup.** " + s.setup + "\n\n";
    for (auto& v : s.verdicts) {
        o += "**" + v.claim + " — " + v.verdict + ".** " + v.statement + "\n\n";
        o += "*Rule:* " + v.rule + "  \n*Measured:* " + v.evidence + "\n\n";
    }
    for (auto& f : s.figures) o += "![" + f.caption + "](" + figure_dir + "/" + s.experiment + "-" + f.file + ")\n\n*" + f.caption + "*\n\n";
    for (auto& t : s.tables) o += "*" + t.caption + "*\n\n" + md_table(t.table) + "\n";
    if (!s.notes.empty()) {
        o += "**Notes.**\n\n";
        for (auto& n : s.notes) o += "- " + n + "\n";
        o += "\n";
    }
    return o;
}

std::string section_html(const Section& s) {
    std::string o = "<section id=\"" + xml_escape(s.experiment) + "\"><h2>" + xml_escape(s.title) + "</h2>\n";
    if (!s.setup.empty()) o += "<p><b>Setup.</b> " + xml_escape(s.setup) + "</p>\n";
    for (auto& v : s.verdicts)
        o += "<div class=\"verdict " + verdict_class(v.verdict) + "\"><b>" + xml_escape(v.claim) + " — " +
             xml_escape(v.verdict) + ".</b> " + xml_escape(v.statement) + "<br><i>Rule:</i> " + xml_escape(v.rule) +
             "<br><i>Measured:</i> " + xml_escape(v.evidence) + "</div>\n";
    for (auto& f : s.figures) {
        std::string svg = f.svg;
        size_t decl = svg.find("<svg");
        o += "<figure>" + (decl == std::string::npos ? svg : svg.substr(decl)) + "<figcaption>" + xml_escape(f.caption) +
             "</figcaption></figure>\n";
    }
    for (auto& t : s.tables) o += "<p class=\"caption\">" + xml_escape(t.caption) + "</p>\n" + html_table(t.table);
    if (!s.notes.empty()) {
        o += "<p><b>Notes.</b></p><ul>";
        for (auto& n : s.notes) o += "<li>" + xml_escape(n) + "</li>";
        o += "</ul>\n";
    }
    return o + "</section>\n";
}

std::string write_report(const RunOptions& opt) {
    std::string root = nn::io::join(opt.out, profile_name(opt.profile));
    std::string dir = nn::io::join(root, "report"), fig_dir = nn::io::join(dir, "figures");
    nn::io::make_dirs(fig_dir);
    std::vector<Section> sections;
    std::vector<std::string> missing;
    for (auto& [name, factory] : experiment_registry()) {
        // The report shows each experiment's default configuration (what `make experiments` runs).
        std::string run_dir = nn::io::join(nn::io::join(root, name), "default");
        if (!nn::io::exists(nn::io::join(run_dir, "section.json"))) {
            missing.push_back(name);
            continue;
        }
        sections.push_back(read_section(run_dir));
    }
    std::time_t t = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
    std::string env = nn::io::exists(nn::io::join(root, "suite.json")) ? nn::io::read_text(nn::io::join(root, "suite.json")) : "";

    std::string md = "# secateurs — pruning claims, measured\n\nProfile **" + profile_name(opt.profile) + "**, written " +
                     when + ". Each claim of the lecture (`SEED.md`) is tested by an experiment below; its verdict "
                     "follows from the measured numbers by the rule stated next to it.\n\n";
    std::string html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>secateurs report (" +
                       profile_name(opt.profile) + ")</title><style>"
                       "body{font-family:Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
                       "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
                       "font-size:13px;text-align:right}th{background:#f3f3f3}figure{margin:1em 0}figcaption{font-size:13px;"
                       "color:#555}.verdict{padding:6px 10px;margin:6px 0;border-left:5px solid #999;background:#fafafa}"
                       ".holds{border-color:#59a14f}.partly{border-color:#edc948}.fails{border-color:#e15759}"
                       ".caption{font-style:italic;margin-bottom:2px}</style></head><body>\n"
                       "<h1>secateurs — pruning claims, measured</h1><p>Profile <b>" + profile_name(opt.profile) +
                       "</b>, written " + when + ".</p>\n";
    Table summary({"claim", "verdict", "experiment", "statement"});
    for (auto& s : sections)
        for (auto& v : s.verdicts) summary.add({v.claim, v.verdict, s.title, v.statement});
    md += "## Verdicts\n\n" + md_table(summary) + "\n";
    html += "<h2>Verdicts</h2>" + html_table(summary);
    if (!missing.empty()) {
        std::string list;
        for (auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        md += "Not run in this profile yet: " + list + ".\n\n";
        html += "<p>Not run in this profile yet: " + xml_escape(list) + ".</p>\n";
    }
    for (auto& s : sections) {
        for (auto& f : s.figures) nn::io::write_text_atomic(nn::io::join(fig_dir, s.experiment + "-" + f.file), f.svg);
        md += section_markdown(s, "figures");
        html += section_html(s);
    }
    if (!env.empty()) {
        md += "## Run\n\n```json\n" + env + "```\n";
        html += "<h2>Run</h2><pre>" + xml_escape(env) + "</pre>\n";
    }
    html += "</body></html>\n";
    nn::io::write_text_atomic(nn::io::join(dir, "index.md"), md);
    nn::io::write_text_atomic(nn::io::join(dir, "index.html"), html);
    return dir;
}

}  // namespace experiments
