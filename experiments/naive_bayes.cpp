#include "experiments/naive_bayes.hpp"

#include <cmath>

#include "nn/check.hpp"

namespace experiments {

void NaiveBayes::fit(const std::vector<std::vector<std::string>>& docs, const std::vector<int64_t>& labels,
                     int n_classes, double alpha) {
    ENSURE(docs.size() == labels.size() && !docs.empty(), "naive Bayes: ", docs.size(), " documents and ",
           labels.size(), " labels");
    ENSURE(n_classes > 0 && alpha > 0.0, "naive Bayes: needs classes > 0 and alpha > 0, got ", n_classes, " and ", alpha);
    n_classes_ = n_classes;
    word_index_.clear();
    std::vector<double> class_docs(size_t(n_classes), 0.0), counts;  // counts [word * C + class]
    for (size_t i = 0; i < docs.size(); i++) {
        int64_t c = labels[i];
        ENSURE(c >= 0 && c < n_classes, "naive Bayes: label ", c, " outside [0, ", n_classes, ")");
        class_docs[size_t(c)] += 1.0;
        for (auto& w : docs[i]) {
            auto [it, added] = word_index_.emplace(w, int64_t(word_index_.size()));
            if (added) counts.resize(counts.size() + size_t(n_classes), 0.0);
            counts[size_t(it->second * n_classes + c)] += 1.0;
        }
    }
    const int64_t V = int64_t(word_index_.size());
    std::vector<double> class_words(size_t(n_classes), 0.0);
    for (int64_t w = 0; w < V; w++)
        for (int c = 0; c < n_classes; c++) class_words[size_t(c)] += counts[size_t(w * n_classes + c)];
    log_prior_.assign(size_t(n_classes), 0.0);
    for (int c = 0; c < n_classes; c++)
        log_prior_[size_t(c)] = std::log((class_docs[size_t(c)] + alpha) / (double(docs.size()) + alpha * n_classes));
    log_likelihood_.assign(counts.size(), 0.0);
    for (int64_t w = 0; w < V; w++)
        for (int c = 0; c < n_classes; c++)
            log_likelihood_[size_t(w * n_classes + c)] =
                std::log((counts[size_t(w * n_classes + c)] + alpha) / (class_words[size_t(c)] + alpha * double(V)));
}

int64_t NaiveBayes::predict(const std::vector<std::string>& doc) const {
    ENSURE(n_classes_ > 0, "naive Bayes: predict before fit");
    std::vector<double> score = log_prior_;
    for (auto& w : doc) {
        auto it = word_index_.find(w);
        if (it == word_index_.end()) continue;
        for (int c = 0; c < n_classes_; c++) score[size_t(c)] += log_likelihood_[size_t(it->second * n_classes_ + c)];
    }
    int64_t best = 0;
    for (int c = 1; c < n_classes_; c++)
        if (score[size_t(c)] > score[size_t(best)]) best = c;
    return best;
}

double NaiveBayes::accuracy(const std::vector<std::vector<std::string>>& docs, const std::vector<int64_t>& labels) const {
    ENSURE(docs.size() == labels.size() && !docs.empty(), "naive Bayes: ", docs.size(), " documents and ",
           labels.size(), " labels");
    int64_t correct = 0;
    for (size_t i = 0; i < docs.size(); i++) correct += predict(docs[i]) == labels[i];
    return double(correct) / double(docs.size());
}

NaiveBayes fit_naive_bayes_tuned(const std::vector<std::vector<std::string>>& train_docs,
                                 const std::vector<int64_t>& train_labels,
                                 const std::vector<std::vector<std::string>>& val_docs,
                                 const std::vector<int64_t>& val_labels, int n_classes,
                                 const std::vector<double>& alphas, double* best_alpha) {
    ENSURE(!alphas.empty(), "naive Bayes: no smoothing values to try");
    NaiveBayes best;
    double best_acc = -1.0;
    for (double a : alphas) {
        NaiveBayes nb;
        nb.fit(train_docs, train_labels, n_classes, a);
        double acc = nb.accuracy(val_docs, val_labels);
        if (acc > best_acc) {
            best_acc = acc;
            best = std::move(nb);
            if (best_alpha) *best_alpha = a;
        }
    }
    return best;
}

}  // namespace experiments
