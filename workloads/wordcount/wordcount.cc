// wordcount: memory grows without bound (workshop lab 5).
//
// Each round reads a text, counts its words and prints the top word. An
// input_reader and a word_counter point at each other through shared_ptr:
// the cycle keeps both alive after the round, with every word the counter
// copied. memleak finds the outstanding allocations under main's
// std::make_shared calls (lines marked MAKE-SHARED-READER and
// MAKE-SHARED-COUNTER) and under word_counter::word_count's copy of the
// words (line marked WORDS-COPY).
//
// Usage: wordcount [ROUNDS_PER_SECOND] [--fixed]
//   --fixed is the no-bug control: the counter holds the reader through a
//   weak_ptr, the cycle is broken and everything is freed every round.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

static const char *const TEXT =
    "the quick brown fox jumps over the lazy dog while the cat watches the fox "
    "and the dog dreams of a world where every fox is lazy and every dog is quick";

class word_counter;

class input_reader {
  public:
    input_reader()
    {
        std::istringstream in(TEXT);
        std::string word;
        while (in >> word)
            words_.push_back(word); // READER-WORDS
    }
    const std::vector<std::string> &words() const { return words_; }
    void set_counter(std::shared_ptr<word_counter> counter) { counter_ = std::move(counter); }

  private:
    std::shared_ptr<word_counter> counter_;
    std::vector<std::string> words_;
};

class word_counter {
  public:
    word_counter(std::shared_ptr<input_reader> reader, bool fixed)
    {
        if (fixed)
            weak_reader_ = reader;
        else
            reader_ = std::move(reader);
    }
    std::string top_word()
    {
        std::map<std::string, int> counts = word_count();
        std::string best;
        int most = 0;
        for (const auto &entry : counts) {
            if (entry.second > most) {
                most = entry.second;
                best = entry.first;
            }
        }
        return best;
    }

  private:
    std::map<std::string, int> word_count()
    {
        std::shared_ptr<input_reader> reader = reader_ ? reader_ : weak_reader_.lock();
        words_ = reader->words(); // WORDS-COPY: a copy of every word, kept by the cycle
        std::map<std::string, int> counts;
        for (const auto &word : words_)
            ++counts[word];
        return counts;
    }

    std::shared_ptr<input_reader> reader_;
    std::weak_ptr<input_reader> weak_reader_;
    std::vector<std::string> words_;
};

int main(int argc, char **argv)
{
    int rate = argc > 1 ? std::atoi(argv[1]) : 200;
    bool fixed = false;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--fixed") == 0)
            fixed = true;
    if (rate <= 0)
        rate = 200;
    const auto pause = std::chrono::microseconds(1000000 / rate);
    for (unsigned long round = 0;; ++round) {
        auto reader = std::make_shared<input_reader>(); // MAKE-SHARED-READER
        auto counter = std::make_shared<word_counter>(reader, fixed); // MAKE-SHARED-COUNTER
        reader->set_counter(counter);
        std::string best = counter->top_word();
        if (round % 1000 == 0) {
            std::cout << "round " << round << ": " << best << std::endl;
        }
        std::this_thread::sleep_for(pause);
    }
}
