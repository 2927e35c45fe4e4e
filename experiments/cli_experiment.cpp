// secateurs experiment: run, shard, merge and report the experiment suite.
//   secateurs experiment list
//   secateurs experiment run NAME [--profile P] [--shard K/N] [--threads N] [--out DIR] [experiment flags]
//   secateurs experiment merge NAME [--profile P] [--out DIR] [experiment flags]
//   secateurs experiment report [--profile P] [--out DIR]
//   secateurs experiment all [--profile P] [--threads N] [--out DIR]
//   secateurs experiment NAME --help
#include <algorithm>
#include <filesystem>
#include <cstdio>

#include "experiments/cli.hpp"
#include "experiments/harness.hpp"
#include "experiments/report.hpp"
#include "nn/clock.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"

namespace experiments {

namespace {

const char* kUsage =
    "usage: secateurs experiment <list|run|merge|report|all> ...\n\n"
    "  list                         the experiments of the suite, in report order\n"
    "  run NAME [flags]             run one experiment (all points, or --shard K/N of them), then merge\n"
    "  merge NAME [flags]           combine the finished points of a sharded run and analyse them\n"
    "  report                       write <out>/<profile>/report/index.md and index.html\n"
    "  all                          run every experiment, then the report\n"
    "  NAME --help                  the experiment's own options and their defaults\n\n"
    "harness options: --profile smoke|quick|full (default quick), --out DIR (default runs),\n"
    "                 --threads N (default 2), --shard K/N (run only every N-th point, starting at K),\n"
    "                 --fresh (discard this profile's earlier results first; cached baselines stay)\n";

// Harness options out of the argument list; the rest are the experiment's flags.
RunOptions take_harness_options(std::vector<std::string>& args) {
    RunOptions opt;
    std::string profile = "quick", shard = "1/1";
    Args a("secateurs experiment", "");
    a.add("profile", &profile, "").add("out", &opt.out, "").add("threads", &opt.threads, "").add("shard", &shard, "");
    std::vector<std::string> ours, rest;
    for (size_t i = 0; i < args.size(); i++) {
        bool mine = false;
        for (const char* n : {"--profile", "--out", "--threads", "--shard"})
            mine = mine || args[i] == n || args[i].rfind(std::string(n) + "=", 0) == 0;
        if (args[i] == "--fresh") {
            opt.fresh = true;
            continue;
        }
        if (!mine) {
            rest.push_back(args[i]);
            continue;
        }
        ours.push_back(args[i]);
        if (args[i].find('=') == std::string::npos) {
            ENSURE(i + 1 < args.size(), "", args[i], " needs a value");
            ours.push_back(args[++i]);
        }
    }
    a.parse(ours);
    opt.profile = parse_profile(profile);
    parse_shard(shard, opt.shard_index, opt.shard_count);
    args = rest;
    return opt;
}

// An experiment's points under its profile defaults (what `all` runs), for costs and counts.
std::vector<Point> default_points(Experiment& e, const RunOptions& opt) {
    Args a("", "");
    e.configure(a, opt.profile);
    Context ctx;
    ctx.profile = opt.profile;
    ctx.threads = opt.threads;
    ctx.root = nn::io::join(opt.out, profile_name(opt.profile));
    return e.points(ctx);
}

}  // namespace

int cmd_experiment(const Argv& argv_in) {
    std::vector<std::string> args(argv_in.begin(), argv_in.end());
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    std::string verb = args[0];
    args.erase(args.begin());
    if (verb == "list") {
        // Titles name their claims; points and share of the estimated work are for --profile.
        RunOptions opt = take_harness_options(args);
        ENSURE(args.empty(), "secateurs experiment list takes only harness options, got '", args.empty() ? "" : args[0], "'");
        struct Row {
            std::string name, title;
            size_t points;
            double cost = 0;
        };
        std::vector<Row> rows;
        double total = 0;
        for (auto& [name, factory] : experiment_registry()) {
            auto e = factory();
            std::vector<Point> pts = default_points(*e, opt);
            Row r{name, e->title(), pts.size()};
            for (auto& p : pts) r.cost += p.cost;
            total += r.cost;
            rows.push_back(r);
        }
        std::printf("  %-16s %-72s %6s %6s\n", "experiment", "title", "points", "work");
        for (const Row& r : rows)
            std::printf("  %-16s %-72s %6zu %5.1f%%\n", r.name.c_str(), r.title.c_str(), r.points,
                        total > 0 ? 100 * r.cost / total : 0.0);
        std::printf("(%s profile; work is each experiment's share of the estimated training and evaluation cost)\n",
                    profile_name(opt.profile).c_str());
        return 0;
    }
    // `secateurs experiment NAME --help`, and `secateurs experiment run|merge NAME ... --help`
    const bool asks_help = std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
    if ((verb == "run" || verb == "merge") && asks_help && !args.empty() && args[0].rfind("-", 0) != 0) {
        verb = args[0];
        args.erase(args.begin());
    }
    if (verb != "run" && verb != "merge" && verb != "report" && verb != "all") {
        auto e = make_experiment(verb);
        RunOptions opt = take_harness_options(args);
        Args a("secateurs experiment run " + verb, e->title());
        e->configure(a, opt.profile);
        std::fputs(a.help().c_str(), stdout);
        return 0;
    }
    RunOptions opt = take_harness_options(args);
    if (opt.fresh) {
        ENSURE(verb == "run" || verb == "all", "secateurs experiment ", verb, ": --fresh only goes with run or all");
        std::string root = nn::io::join(opt.out, profile_name(opt.profile));
        std::string target = verb == "all" || args.empty() ? root : nn::io::join(root, args[0]);
        std::error_code ec;
        std::filesystem::remove_all(target, ec);
        ENSURE(!ec, "cannot remove ", target, ": ", ec.message());
    }
    if (verb == "report") {
        ENSURE(args.empty(), "secateurs experiment report: unexpected argument '", args.empty() ? "" : args[0], "'");
        std::printf("wrote %s/index.md and index.html\n", write_report(opt).c_str());
        return 0;
    }
    if (verb == "all") {
        ENSURE(args.empty(), "secateurs experiment all takes only harness options, got '", args.empty() ? "" : args[0],
               "'");
        ENSURE(opt.shard_count == 1, "secateurs experiment all does not shard; shard single experiments with run");
        Progress suite;
        suite.start = nn::wall_seconds();
        // Total cost first, for a suite-wide ETA.
        for (auto& [name, factory] : experiment_registry())
            for (auto& p : default_points(*factory(), opt)) suite.total_cost += p.cost;
        std::string root = nn::io::join(opt.out, profile_name(opt.profile));
        nn::io::make_dirs(root);
        nn::io::write_text_atomic(nn::io::join(root, "suite.json"), environment_json(opt.threads) + "\n");
        for (auto& [name, factory] : experiment_registry()) {
            double t0 = nn::wall_seconds();
            suite.line("experiment " + name + " starts");
            run_experiment(name, opt, {}, &suite);
            suite.line("experiment " + name + " done in " + std::to_string(int(nn::wall_seconds() - t0)) + " s");
        }
        std::string dir = write_report(opt);
        std::printf("suite finished in %.0f s; report: %s/index.html\n", nn::wall_seconds() - suite.start, dir.c_str());
        return 0;
    }
    ENSURE(!args.empty(), "secateurs experiment ", verb, ": which experiment? (see secateurs experiment list)");
    std::string name = args[0];
    args.erase(args.begin());
    if (verb == "run") {
        std::string dir = run_experiment(name, opt, args);
        std::printf("%s: %s\n", opt.shard_count == 1 ? "done" : "shard done", dir.c_str());
    } else {
        merge_experiment(name, opt, args);
        std::printf("merged into %s\n", nn::io::join(nn::io::join(nn::io::join(opt.out, profile_name(opt.profile)), name),
                                                     "…/results.csv").c_str());
    }
    return 0;
}

}  // namespace experiments
