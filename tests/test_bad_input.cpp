// The README's bad-input table, checked against what the `secateurs` command line really prints:
// each section writes a bad input, runs the command as a subprocess, and requires exit status 1 and
// the exact one-line error (without the "[check ... failed at file:line]" suffix every error
// carries), or, for inputs that are not errors, the exact note.
#include <filesystem>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/safetensors.hpp"
#include "nn/checkpoint.hpp"
#include "subprocess.hpp"

namespace {

struct Outcome {
    int code = -1;
    std::string last_line;  // the error line without its " [check ... at file:line]" suffix
    std::string output;
};

Outcome run_cli(std::vector<std::string> args, const std::string& log) {
    Outcome o;
    o.code = testing::run_secateurs(std::move(args), o.output, log);
    std::string text = o.output;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    size_t nl = text.rfind('\n');
    o.last_line = nl == std::string::npos ? text : text.substr(nl + 1);
    size_t suffix = o.last_line.rfind(" [check ");
    if (suffix == std::string::npos) suffix = o.last_line.rfind(" [at ");
    if (suffix != std::string::npos) o.last_line = o.last_line.substr(0, suffix);
    return o;
}

void require_error(const Outcome& o, const std::string& line) {
    INFO("output:\n" << o.output);
    REQUIRE(o.code == 1);
    REQUIRE(o.last_line == line);
}

// A weights file of lenet300 as `secateurs train` writes it, with its arch metadata, without the
// tensor `drop` (if given).
void write_lenet(const std::string& path, const std::string& spec, const std::string& arch_metadata,
                 const std::string& drop = "") {
    auto net = nn::make_model(spec, 1);
    nn::st::File all, f;
    nn::put_module(all, *net);
    for (auto& e : all.entries())
        if (e.name != drop) f.put_raw(e);
    f.metadata["arch"] = arch_metadata;
    f.write(path);
}

}  // namespace

TEST_CASE("bad-input table: corpora, recipes, selectors, amounts, checkpoint shapes, IMP runs", "[cli][bad-input]") {
    const std::string dir = "test-bad-input", log = "test-bad-input.log";
    std::filesystem::remove_all(dir);
    nn::io::make_dirs(dir);
    auto path = [&](const std::string& name) { return nn::io::join(dir, name); };

    SECTION("corpus: empty labelled TSV") {
        nn::io::write_text_atomic(path("empty.tsv"), "");
        require_error(run_cli({"baseline", "--task", path("empty.tsv")}, log),
                      "secateurs baseline: error: " + path("empty.tsv") +
                          ": no examples found (expected lines of label<TAB>text)");
    }
    SECTION("corpus: blank plain text") {
        nn::io::write_text_atomic(path("blank.txt"), " \n\t\n\r\n");
        require_error(run_cli({"pretrain", "--corpus", path("blank.txt"), "--out", path("mlm")}, log),
                      "secateurs pretrain: error: " + path("blank.txt") +
                          ": no text found (expected one example per line)");
    }
    SECTION("corpus: NUL bytes (a binary file)") {
        nn::io::write_text_atomic(path("bin.txt"), std::string("ab\0c\n", 5));
        require_error(run_cli({"pretrain", "--corpus", path("bin.txt"), "--out", path("mlm")}, log),
                      "secateurs pretrain: error: " + path("bin.txt") +
                          ": contains NUL bytes at offset 2; expected a text file (UTF-8, one example per line)");
    }
    SECTION("corpus: gzip-compressed (with the NUL bytes a real one holds)") {
        nn::io::write_text_atomic(path("z.txt"), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
        require_error(run_cli({"pretrain", "--corpus", path("z.txt"), "--out", path("mlm")}, log),
                      "secateurs pretrain: error: " + path("z.txt") + ": is gzip-compressed; decompress it first (gunzip)");
    }
    SECTION("corpus: invalid UTF-8 is replaced by U+FFFD and counted, not an error") {
        std::string text;
        for (int i = 0; i < 40; i++) text += (i % 2 ? "art\tpaint it " : "zoo\tthe cat ") + std::to_string(i) + "\n";
        text += "zoo\tbad \xFF byte, overlong \xC0\xAF, cut \xE2\x82\n";
        nn::io::write_text_atomic(path("bad-utf8.tsv"), text);
        Outcome o = run_cli({"baseline", "--task", path("bad-utf8.tsv")}, log);
        INFO("output:\n" << o.output);
        REQUIRE(o.code == 0);
        REQUIRE_THAT(o.output, Catch::Contains("corpus " + path("bad-utf8.tsv") +
                                               ": 41 examples, 2 classes; 4 invalid UTF-8 sequences replaced by "
                                               "U+FFFD, 0 empty lines skipped"));
    }
    SECTION("recipe: unknown key") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        nn::io::write_text_atomic(path("r.recipe"), "[step]\nparams = fc1.weight\nmethod = magnitude\namount = 0.5\n"
                                                    "sparsity = 0.5\n");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--recipe",
                               path("r.recipe")}, log),
                      "secateurs prune: error: " + path("r.recipe") +
                          ":5: unknown key 'sparsity' (known: params, ignore, method, amount, granularity, dim, heads, "
                          "n, normalize, scope, layer_normalize, min_sparsity, max_sparsity, layer_amount, schedule, "
                          "rounds, start, end, every, initial, seed, batches, batch_size)");
    }
    SECTION("recipe: a selector that matches nothing") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        nn::io::write_text_atomic(path("r.recipe"), "[step]\nparams = fc1.weight, fc9.*\nmethod = magnitude\namount = 0.5\n");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--recipe",
                               path("r.recipe")}, log),
                      "secateurs prune: error: " + path("r.recipe") + ":2: parameter selector 'fc9.*' matches no parameter");
    }
    SECTION("recipe: ignore and layer_amount selectors that match nothing") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        nn::io::write_text_atomic(path("r.recipe"), "[step]\nparams = fc*.weight\nignore = conv*\nmethod = magnitude\n"
                                                    "amount = 0.5\n");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--recipe",
                               path("r.recipe")}, log),
                      "secateurs prune: error: " + path("r.recipe") + ":3: ignore selector 'conv*' matches no parameter");
        nn::io::write_text_atomic(path("r.recipe"), "[step]\nparams = fc1.weight\nmethod = magnitude\namount = 0.5\n"
                                                    "layer_amount = fc3.weight 0.1\n");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--recipe",
                               path("r.recipe")}, log),
                      "secateurs prune: error: " + path("r.recipe") +
                          ":5: layer_amount selector 'fc3.weight' matches none of the step's parameters");
    }
    SECTION("prune: --params that match nothing") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--method",
                               "l1_unstructured", "--amount", "0.5", "--params", "fc1.weight,nope"}, log),
                      "secateurs prune: error: --params/--ignore: parameter selector 'nope' matches no parameter");
    }
    SECTION("recipe: negative and above-1 amounts") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        for (std::string amount : {"-0.5", "1.5", "-3"}) {
            nn::io::write_text_atomic(path("r.recipe"), "[step]\nparams = fc1.weight\nmethod = magnitude\namount = " +
                                                            amount + "\n");
            require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--recipe",
                                   path("r.recipe")}, log),
                          "secateurs prune: error: " + path("r.recipe") + ":4: amount = '" + amount +
                              "' should either be a float in the range [0, 1] or a non-negative integer");
        }
    }
    SECTION("prune and imp: negative and above-1 amounts on the command line") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--method",
                               "l1_unstructured", "--amount", "1.5"}, log),
                      "secateurs prune: error: --amount: amount=1.5 should either be a float in the range [0, 1] or a "
                      "non-negative integer");
        require_error(run_cli({"prune", "--in", path("w.safetensors"), "--out", path("p.safetensors"), "--method",
                               "l1_unstructured", "--amount", "-0.5"}, log),
                      "secateurs prune: error: --amount: amount=-0.5 should either be a float in the range [0, 1] or a "
                      "non-negative integer");
        require_error(run_cli({"imp", "--rate", "1.5", "--train-subset", "300", "--val", "100", "--out", path("imp")}, log),
                      "secateurs imp: error: IMP: rate 1.5 is not in [0, 1]");
        require_error(run_cli({"imp", "--rate", "-0.2", "--train-subset", "300", "--val", "100", "--out", path("imp")}, log),
                      "secateurs imp: error: IMP: rate -0.2 is not in [0, 1]");
        require_error(run_cli({"imp", "--target-density", "1.5", "--levels", "3", "--out", path("imp")}, log),
                      "secateurs imp: error: --target-density needs a value in (0, 1] and --levels > 0");
    }
    SECTION("checkpoint vs model: shape mismatch and missing tensors") {
        write_lenet(path("w.safetensors"), "lenet300", "lenet300:hidden=200-100");
        require_error(run_cli({"eval", "--ckpt", path("w.safetensors")}, log),
                      "secateurs eval: error: " + path("w.safetensors") +
                          ": tensor 'fc1.weight' has shape [300, 784] but the model expects [200, 784]");
        write_lenet(path("w.safetensors"), "lenet300", "lenet300", "fc3.bias");
        require_error(run_cli({"eval", "--ckpt", path("w.safetensors")}, log),
                      "secateurs eval: error: " + path("w.safetensors") +
                          ": missing tensors for this model: fc3.bias (is this a checkpoint of a different "
                          "architecture?)");
    }
    SECTION("imp: malformed --crash-at") {
        require_error(run_cli({"imp", "--crash-at", "12", "--out", path("imp")}, log),
                      "secateurs imp: error: --crash-at '12': expected LEVEL/POINT (POINT: STEP, STEP:write, STEP:link, "
                      "model or done)");
        require_error(run_cli({"imp", "--crash-at", "1/later", "--out", path("imp")}, log),
                      "secateurs imp: error: --crash-at 'later': expected STEP, STEP:write or STEP:link with STEP > 0");
    }
    std::filesystem::remove_all(dir);
}
