// The bag-of-words baseline for text classification: multinomial naive Bayes (McCallum & Nigam 1998)
// with additive (Lidstone) smoothing alpha. Words unseen in training are ignored at prediction.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace experiments {

class NaiveBayes {
public:
    // docs[i] is the word list of example i, labels[i] its class in [0, n_classes).
    void fit(const std::vector<std::vector<std::string>>& docs, const std::vector<int64_t>& labels, int n_classes,
             double alpha = 1.0);
    int64_t predict(const std::vector<std::string>& doc) const;
    double accuracy(const std::vector<std::vector<std::string>>& docs, const std::vector<int64_t>& labels) const;
    int n_classes() const { return n_classes_; }

private:
    int n_classes_ = 0;
    std::unordered_map<std::string, int64_t> word_index_;
    std::vector<double> log_prior_;       // [class]
    std::vector<double> log_likelihood_;  // [word * n_classes + class]
};

// Fits one model per alpha in `alphas`, keeps the one with the best validation accuracy (first on
// ties), and returns it with its alpha.
NaiveBayes fit_naive_bayes_tuned(const std::vector<std::vector<std::string>>& train_docs,
                                 const std::vector<int64_t>& train_labels,
                                 const std::vector<std::vector<std::string>>& val_docs,
                                 const std::vector<int64_t>& val_labels, int n_classes,
                                 const std::vector<double>& alphas, double* best_alpha);

}  // namespace experiments
