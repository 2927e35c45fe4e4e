// The experiment harness. An experiment is a small program over this file: a typed configuration
// (defaults per profile, overridable with --flag value), a list of independent sweep points, a
// function that runs one point and returns its rows, and an analysis that turns the merged rows into
// a report section (figures, tables, and a verdict per claim computed by a stated rule).
//
// The harness owns everything else: run folders named from the non-default configuration, run.json
// (seed, git hash and dirty flag, compiler and flags, SIMD arch, OpenBLAS core and threads, data file
// hashes), one CSV per finished point (so a killed run continues where it stopped and finished
// points are skipped), sharding (--shard K/N runs every N-th point; `merge` combines), cached trained
// baselines shared by all experiments, progress lines with an ETA, and the report (report.hpp).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "experiments/args.hpp"
#include "experiments/table.hpp"
#include "nn/trainer.hpp"

namespace experiments {

enum class Profile { Smoke, Quick, Full };
Profile parse_profile(const std::string& name);  // smoke | quick | full
std::string profile_name(Profile p);

// One sweep point: an id unique within the experiment (used as its file name) and its parameters.
struct Point {
    std::string id;
    std::map<std::string, std::string> params;
    double cost = 1.0;  // relative cost estimate, for the ETA
    const std::string& at(const std::string& key) const;
    double num(const std::string& key) const;
};

// What an experiment contributes to the report.
struct Figure {
    std::string file;     // e.g. "accuracy.svg", written into the run folder
    std::string caption;
    std::string svg;
};
struct ReportTable {
    std::string caption;
    Table table;
};
struct Verdict {
    std::string claim;     // "C2"
    std::string statement; // the claim in one sentence
    std::string verdict;   // "holds" | "holds partly" | "does not hold here"
    std::string rule;      // how the verdict follows from the numbers
    std::string evidence;  // the numbers the rule was applied to
};
struct Section {
    std::string experiment, title, setup;
    std::vector<Figure> figures;
    std::vector<ReportTable> tables;
    std::vector<Verdict> verdicts;
    std::vector<std::string> notes;  // surprises and caveats, reported rather than hidden
};
std::string verdict_from(int passed, int total);  // all -> holds, some -> holds partly, none -> does not hold here

struct Progress;

// Shared state of one harness invocation.
struct Context {
    Profile profile = Profile::Quick;
    std::string root;       // runs/<profile>
    std::string run_dir;    // runs/<profile>/<experiment>/<config name>
    int threads = 1;
    Progress* progress = nullptr;

    // Fashion-MNIST loaded once per process: a validation split held out of the training set.
    struct ImageData {
        data::ImageDataset train, val, test;
    };
    const ImageData& fashion(int64_t n_val = 5000, uint64_t split_seed = 1);

    // A trained baseline, cached under runs/cache/ by a hash of everything that determines it, trained
    // (and resumed after a kill) under a file lock so concurrent shards train it once.
    struct Baseline {
        std::string path;  // model.safetensors: weights + "arch" metadata
        double test_acc = NAN, val_acc = NAN, seconds = NAN;
    };
    Baseline baseline(const std::string& model_spec, const nn::TrainConfig& cfg, int64_t n_val = 5000);
    // The suite's training recipe for a model in this profile (epochs, optimizer, schedule), so that
    // every experiment asking for "the dense lenet300, seed 2" gets the same cached model.
    nn::TrainConfig recipe(const std::string& model_spec, uint64_t seed) const;
    Baseline baseline(const std::string& model_spec, uint64_t seed) { return baseline(model_spec, recipe(model_spec, seed)); }
    // The training split of fashion() with the model's default augmentation (crop + flip for vgg and
    // resnet20, none for the others; see presets.hpp); it shares the image storage.
    data::ImageDataset train_set(const std::string& model_spec);

    // The mini-BERT of the BERT experiments: pretrained by MLM on the KJV, then fine-tuned for genre
    // (the pretrained encoder, a fresh [CLS] classifier). Cached under runs/cache/ like baseline(),
    // by a hash of the recipe, trained under a file lock (resumed after a kill).
    struct BertRecipe {
        int64_t layers = 4, hidden = 256, heads = 4, ffn = 1024, seq = 64, vocab = 8192;
        int64_t epochs = 8, max_steps = 0, batch = 32;
        float lr = 5e-4f;
        int64_t genre_epochs = 4, genre_max_steps = 0;
        float genre_lr = 1e-4f;
        uint64_t seed = 1;
        std::string describe() const;  // one line for the report's setup text
    };
    struct Bert {
        std::string mlm_path, genre_path;  // model.safetensors (weights, "arch", tokenizer metadata)
        double mlm_acc = NAN, genre_acc = NAN;  // held-out test split
        double pretrain_seconds = NAN, finetune_seconds = NAN;
    };
    Bert bert(const BertRecipe& r);
    BertRecipe bert_recipe() const;  // the profile's recipe: full = the default model, 4 + 2 epochs; quick smaller

    // Progress line for a long step inside a point (e.g. training epochs).
    void note(const std::string& what) const;
};

class Experiment {
public:
    virtual ~Experiment() = default;
    virtual std::string name() const = 0;   // command-line name, e.g. "scoring"
    virtual std::string title() const = 0;  // report heading
    virtual std::vector<std::string> claims() const = 0;  // e.g. {"C2"}
    // Registers the typed options; `profile` sets their defaults before registration.
    virtual void configure(Args& args, Profile profile) = 0;
    virtual std::vector<Point> points(Context& ctx) = 0;
    virtual Table run_point(Context& ctx, const Point& p) = 0;
    virtual Section analyse(Context& ctx, const Table& results) = 0;
};

using ExperimentFactory = std::unique_ptr<Experiment> (*)();
// The suite, in report order (experiments.cpp).
const std::vector<std::pair<std::string, ExperimentFactory>>& experiment_registry();
std::unique_ptr<Experiment> make_experiment(const std::string& name);

struct RunOptions {
    Profile profile = Profile::Quick;
    std::string out = "runs";  // root of all run folders
    int threads = 2;
    int shard_index = 0, shard_count = 1;  // --shard K/N -> index K-1 of N
    bool analyse = true;                   // merge + analyse after the points (unsharded runs)
    bool fresh = false;                    // --fresh: discard <out>/<profile> first (the baseline cache stays)
};
void parse_shard(const std::string& text, int& index, int& count);

// Runs the points of one experiment (its shard), then, when unsharded, merges and analyses.
// `flags` are the experiment's own --flag value arguments. Returns the run folder.
std::string run_experiment(const std::string& name, const RunOptions& opt, const std::vector<std::string>& flags,
                           Progress* suite = nullptr);
// Combines the point files of a finished (possibly sharded) run into results.csv and writes the
// report section. Fails naming the missing points if some shard has not finished.
void merge_experiment(const std::string& name, const RunOptions& opt, const std::vector<std::string>& flags);

// Writes runs/<profile>/report/index.md and index.html from every experiment's section.
std::string write_report(const RunOptions& opt);

// Suite-wide progress and ETA: units of estimated cost done so far over the elapsed time.
struct Progress {
    double total_cost = 0, done_cost = 0;
    double start = 0;
    std::string current;  // "experiment: point i/n"
    void line(const std::string& detail) const;
};

// Machine, build and data facts for run.json.
std::string environment_json(int threads);

}  // namespace experiments
