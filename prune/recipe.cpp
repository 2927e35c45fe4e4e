#include "prune/recipe.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace prune {

namespace {

const char* const kKeys[] = {"params", "ignore", "method", "amount", "granularity", "dim", "heads", "n", "normalize",
                             "scope", "layer_normalize", "min_sparsity", "max_sparsity", "layer_amount", "schedule",
                             "rounds", "start", "end", "every", "initial", "seed", "batches", "batch_size"};
const char* const kMethods[] = {"l1_unstructured", "random_unstructured", "ln_structured", "random_structured",
                                "magnitude", "random", "taylor", "snip", "movement"};

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string join(const char* const* items, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; i++) out += (i ? ", " : "") + std::string(items[i]);
    return out;
}

struct Value {
    std::string text;
    int line = 0;
};

// One step's raw key/values while reading, interpreted when the step ends.
struct RawStep {
    std::string name;
    int line = 0;
    std::map<std::string, Value> values;
    std::vector<Value> layer_amounts;
};

class Parser {
public:
    explicit Parser(std::string source) : source_(std::move(source)) {}

    template <class... Args>
    [[noreturn]] void fail(int line, const Args&... args) const {
        RAISE(source_, ":", line, ": ", args...);
    }

    int64_t integer(const Value& v, const std::string& key, int64_t min) const {
        const char* s = v.text.c_str();
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(s, &end, 10);
        if (end != s + v.text.size() || v.text.empty() || errno != 0)
            fail(v.line, key, " = '", v.text, "' is not an integer");
        if (x < min) fail(v.line, key, " = ", x, " must be >= ", min);
        return x;
    }

    double number(const Value& v, const std::string& key) const {
        const char* s = v.text.c_str();
        char* end = nullptr;
        errno = 0;
        double x = std::strtod(s, &end);
        if (end != s + v.text.size() || v.text.empty() || errno != 0 || !std::isfinite(x))
            fail(v.line, key, " = '", v.text, "' is not a finite number");
        return x;
    }

    double fraction(const Value& v, const std::string& key) const {
        double x = number(v, key);
        if (x < 0.0 || x > 1.0) fail(v.line, key, " = ", v.text, " must be in [0, 1]");
        return x;
    }

    bool boolean(const Value& v, const std::string& key) const {
        if (v.text == "true") return true;
        if (v.text == "false") return false;
        fail(v.line, key, " = '", v.text, "' must be true or false");
    }

    Amount amount(const Value& v) const {
        try {
            return Amount::parse(v.text, "amount");
        } catch (const nn::Error&) {
            fail(v.line, "amount = '", v.text,
                 "' should either be a float in the range [0, 1] or a non-negative integer");
        }
    }

    RecipeStep finish(const RawStep& raw) const {
        RecipeStep st;
        st.name = raw.name;
        st.line = raw.line;
        auto has = [&](const char* k) { return raw.values.count(k) > 0; };
        auto get = [&](const char* k) -> const Value& { return raw.values.at(k); };
        for (const char* required : {"params", "method", "amount"})
            if (!has(required)) fail(raw.line, "step '", raw.name, "' has no '", required, "'");
        // Keys that make no sense for the choices made are errors: a recipe never silently ignores.
        auto only_if = [&](const char* key, bool ok, const std::string& why) {
            if (has(key) && !ok) fail(get(key).line, "'", key, "' ", why);
        };

        st.params = split_list(get("params").text);
        st.params_line = get("params").line;
        if (st.params.empty()) fail(st.params_line, "params lists no selector");
        if (has("ignore")) {
            st.ignore = split_list(get("ignore").text);
            st.ignore_line = get("ignore").line;
            if (st.ignore.empty()) fail(st.ignore_line, "ignore lists no selector");
        }

        const Value& mv = get("method");
        st.method = mv.text;
        bool known = false;
        for (const char* m : kMethods) known = known || st.method == m;
        if (!known) fail(mv.line, "unknown method '", st.method, "' (expected ", join(kMethods, std::size(kMethods)), ")");
        const bool torch_named = st.method.find('_') != std::string::npos;
        const bool random = st.method == "random" || st.method.rfind("random_", 0) == 0;
        const bool structured_torch = st.method == "ln_structured" || st.method == "random_structured";
        PruneSpec& spec = st.spec;
        spec.amount = amount(get("amount"));
        spec.scorer = random ? Scorer::Random : Scorer::Magnitude;
        if (st.method == "taylor") st.saliency = Saliency::Taylor;
        if (st.method == "snip") st.saliency = Saliency::Snip;
        if (st.method == "movement") st.saliency = Saliency::Movement;
        if (st.saliency != Saliency::None) spec.scorer = Scorer::Saliency;
        spec.reduce.signed_sum = st.saliency == Saliency::Movement;

        // granularity
        only_if("granularity", !torch_named, "does not apply: method " + st.method + " fixes the granularity");
        std::string gran = has("granularity") ? get("granularity").text : structured_torch ? "dim" : "element";
        bool needs_dim = gran == "dim" || gran == "heads";
        only_if("dim", needs_dim, "applies only to granularity dim or heads and to ln_structured / random_structured");
        only_if("heads", gran == "heads", "applies only to granularity heads");
        int dim = 0;
        if (needs_dim) {
            if (!has("dim") && gran == "dim")
                fail(structured_torch ? mv.line : get("granularity").line, "granularity dim needs a 'dim' key");
            if (has("dim")) {
                int64_t d = integer(get("dim"), "dim", -int64_t(nn::kMaxDims));
                if (d >= nn::kMaxDims) fail(get("dim").line, "dim = ", d, " is out of range");
                dim = int(d);
            }
        }
        if (gran == "element") spec.granularity = Grouping::element();
        else if (gran == "rows" || gran == "filters" || gran == "embedding_rows") spec.granularity = Grouping::slices(0);
        else if (gran == "cols" || gran == "channels") spec.granularity = Grouping::slices(1);
        else if (gran == "kernels") spec.granularity = Grouping::kernels();
        else if (gran == "layer") spec.granularity = Grouping::tensor();
        else if (gran == "dim") spec.granularity = Grouping::slices(dim);
        else if (gran == "heads") {
            if (!has("heads")) fail(get("granularity").line, "granularity heads needs a 'heads' key");
            spec.granularity = Grouping::heads(integer(get("heads"), "heads", 1), dim);
        } else {
            fail(get("granularity").line, "unknown granularity '", gran,
                 "' (expected element, rows, cols, filters, channels, embedding_rows, kernels, heads, layer, dim)");
        }

        // unit scores
        const bool scored_groups = spec.granularity.structured() && !random && st.saliency != Saliency::Movement;
        only_if("n", scored_groups, "(norm order) applies only to structured granularities scored by magnitude, taylor or snip");
        if (st.method == "ln_structured" && !has("n")) fail(mv.line, "ln_structured needs 'n' (1, 2 or inf)");
        if (has("n")) {
            const Value& nv = get("n");
            if (nv.text == "inf") spec.reduce.p = INFINITY;
            else if (nv.text == "fro") spec.reduce.p = 2.0;
            else {
                spec.reduce.p = number(nv, "n");
                if (!(spec.reduce.p > 0.0)) fail(nv.line, "n = ", nv.text, " must be positive (or inf)");
            }
        }
        only_if("normalize", spec.granularity.structured() && !random, "applies only to structured, non-random scores");
        if (has("normalize")) spec.reduce.normalize = boolean(get("normalize"), "normalize");
        only_if("seed", random, "applies only to random methods");
        if (has("seed")) spec.seed = uint64_t(integer(get("seed"), "seed", 0));
        only_if("batches", st.saliency == Saliency::Taylor, "applies only to method taylor");
        only_if("batch_size", st.saliency == Saliency::Taylor || st.saliency == Saliency::Snip,
                "applies only to methods taylor and snip");
        if (has("batches")) st.batches = integer(get("batches"), "batches", 1);
        if (has("batch_size")) st.batch_size = integer(get("batch_size"), "batch_size", 1);

        // scope
        if (has("scope")) {
            const Value& sv = get("scope");
            if (sv.text == "global") spec.global = true;
            else if (sv.text != "local") fail(sv.line, "scope = '", sv.text, "' must be local or global");
        }
        for (const char* k : {"layer_normalize", "min_sparsity", "max_sparsity"})
            only_if(k, spec.global, "applies only to scope = global");
        if (has("layer_normalize")) spec.global_options.layer_normalize = boolean(get("layer_normalize"), "layer_normalize");
        if (has("min_sparsity")) spec.global_options.min_sparsity = fraction(get("min_sparsity"), "min_sparsity");
        if (has("max_sparsity")) spec.global_options.max_sparsity = fraction(get("max_sparsity"), "max_sparsity");
        if (spec.global_options.min_sparsity > spec.global_options.max_sparsity)
            fail(get("min_sparsity").line, "min_sparsity ", spec.global_options.min_sparsity, " exceeds max_sparsity ",
                 spec.global_options.max_sparsity);
        for (auto& v : raw.layer_amounts) {
            size_t sp = v.text.find_last_of(" \t");
            if (sp == std::string::npos) fail(v.line, "layer_amount = '", v.text, "' must be GLOB AMOUNT");
            std::string glob = trim(v.text.substr(0, sp));
            Value a{trim(v.text.substr(sp + 1)), v.line};
            if (glob.empty()) fail(v.line, "layer_amount = '", v.text, "' must be GLOB AMOUNT");
            spec.layer_amounts.emplace_back(glob, amount(a));
            st.layer_amount_lines.push_back(v.line);
        }

        // schedule
        Schedule& sc = st.schedule;
        if (has("schedule")) {
            const Value& s = get("schedule");
            if (s.text == "oneshot") sc.kind = ScheduleKind::OneShot;
            else if (s.text == "iterative") sc.kind = ScheduleKind::Iterative;
            else if (s.text == "agp") sc.kind = ScheduleKind::Agp;
            else fail(s.line, "schedule = '", s.text, "' must be oneshot, iterative or agp");
        }
        only_if("rounds", sc.kind == ScheduleKind::Iterative, "applies only to schedule = iterative");
        only_if("end", sc.kind == ScheduleKind::Agp, "applies only to schedule = agp");
        only_if("initial", sc.kind == ScheduleKind::Agp, "applies only to schedule = agp");
        only_if("every", sc.kind != ScheduleKind::OneShot, "applies only to schedules iterative and agp");
        if (has("start")) sc.start = integer(get("start"), "start", 0);
        if (has("every")) sc.every = integer(get("every"), "every", 1);
        if (sc.kind == ScheduleKind::Iterative) {
            if (!has("rounds")) fail(raw.line, "step '", raw.name, "': schedule iterative needs 'rounds'");
            sc.rounds = integer(get("rounds"), "rounds", 1);
            if (sc.rounds - 1 > (std::numeric_limits<int64_t>::max() - sc.start) / sc.every)
                fail(get("rounds").line, "rounds = ", sc.rounds, " with start = ", sc.start, " and every = ", sc.every,
                     " puts the last round beyond step 2^63 - 1");
        }
        if (sc.kind == ScheduleKind::Agp) {
            if (!has("end")) fail(raw.line, "step '", raw.name, "': schedule agp needs 'end'");
            sc.end = integer(get("end"), "end", 0);
            if (sc.end < sc.start) fail(get("end").line, "end = ", sc.end, " is before start = ", sc.start);
            if (has("initial")) sc.initial = fraction(get("initial"), "initial");
        }
        if (sc.kind != ScheduleKind::OneShot) {
            auto target = [&](const Amount& a, int line) {
                if (a.is_count()) fail(line, "a ", schedule_name(sc.kind), " schedule needs a target sparsity (a fraction), not the count ", a.str());
            };
            target(spec.amount, get("amount").line);
            for (size_t k = 0; k < spec.layer_amounts.size(); k++) target(spec.layer_amounts[k].second, st.layer_amount_lines[k]);
            if (sc.kind == ScheduleKind::Agp && sc.initial > spec.amount.value())
                fail(get("initial").line, "initial = ", sc.initial, " exceeds the final sparsity ", spec.amount.str());
        }
        return st;
    }

    Recipe parse(const std::string& text) const {
        Recipe r;
        r.source = source_;
        RawStep cur;
        bool in_step = false;
        int line_no = 0;
        size_t pos = 0;
        while (pos <= text.size()) {
            size_t nl = text.find('\n', pos);
            std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
            line_no++;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            for (char c : line)
                if ((unsigned char)c < 0x20 && c != '\t') fail(line_no, "control character (byte ", int((unsigned char)c), ") in the line");
            size_t hash = line.find('#');
            if (hash != std::string::npos) line = line.substr(0, hash);
            line = trim(line);
            if (line.empty()) continue;
            if (line[0] == '[') {
                if (line.back() != ']') fail(line_no, "a step header looks like [step] or [step NAME]");
                std::string inner = trim(line.substr(1, line.size() - 2));
                if (inner.compare(0, 4, "step") != 0 || (inner.size() > 4 && inner[4] != ' ' && inner[4] != '\t'))
                    fail(line_no, "unknown section '[", inner, "]' (a recipe has only [step] sections)");
                if (in_step) r.steps.push_back(finish(cur));
                cur = RawStep{};
                cur.line = line_no;
                cur.name = trim(inner.substr(4));
                if (cur.name.empty()) cur.name = "step " + std::to_string(r.steps.size() + 1);
                in_step = true;
                continue;
            }
            size_t eq = line.find('=');
            if (eq == std::string::npos) fail(line_no, "expected 'key = value', got '", line, "'");
            std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
            bool known = false;
            for (const char* k : kKeys) known = known || key == k;
            if (!known) fail(line_no, "unknown key '", key, "' (known: ", join(kKeys, std::size(kKeys)), ")");
            if (!in_step) fail(line_no, "'", key, "' before the first [step]");
            if (value.empty()) fail(line_no, "'", key, "' has an empty value");
            if (key == "layer_amount") {
                cur.layer_amounts.push_back({value, line_no});
                continue;
            }
            auto it = cur.values.find(key);
            if (it != cur.values.end())
                fail(line_no, "'", key, "' is repeated (first given on line ", it->second.line, ")");
            cur.values[key] = {value, line_no};
        }
        if (in_step) r.steps.push_back(finish(cur));
        if (r.steps.empty()) RAISE(source_, ": the recipe has no [step] (a recipe must never silently do nothing)");
        return r;
    }

private:
    std::string source_;
};

}  // namespace

Recipe parse_recipe(const std::string& text, const std::string& source_name) { return Parser(source_name).parse(text); }

Recipe load_recipe(const std::string& path) { return parse_recipe(nn::io::read_text(path), path); }

std::vector<std::string> resolve_params(const Recipe& recipe, const RecipeStep& step,
                                        const std::vector<std::string>& names) {
    auto where = [&](int line) { return recipe.source + ":" + std::to_string(line); };
    for (auto& g : step.params) select_names(names, {g}, {}, where(step.params_line));
    for (auto& g : step.ignore) {
        bool any = false;
        for (auto& n : names) any = any || glob_match(g, n);
        ENSURE(any, where(step.ignore_line), ": ignore selector '", g, "' matches no parameter");
    }
    std::vector<std::string> picked = select_names(names, step.params, step.ignore, where(step.params_line));
    for (size_t k = 0; k < step.spec.layer_amounts.size(); k++) {
        const std::string& g = step.spec.layer_amounts[k].first;
        bool any = false;
        for (auto& n : picked) any = any || glob_match(g, n);
        ENSURE(any, where(step.layer_amount_lines[k]), ": layer_amount selector '", g,
               "' matches none of the step's parameters");
    }
    return picked;
}

ScheduledStep to_scheduled(const Recipe& recipe, const RecipeStep& step, const std::vector<std::string>& names) {
    ScheduledStep s;
    s.name = recipe.source + ":" + std::to_string(step.line) + " (" + step.name + ")";
    s.params = resolve_params(recipe, step, names);
    s.spec = step.spec;
    s.schedule = step.schedule;
    return s;
}

}  // namespace prune
