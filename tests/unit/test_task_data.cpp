// Task data readers and perplexity text: prompts as lm-eval builds them, and malformed inputs
// (bad JSON lines, missing label files, empty texts, broken CSV) as clear errors naming the file
// and line.
#include <filesystem>

#include "base/error.h"
#include "base/fs_util.h"
#include "cmd_report.h"
#include "data/documents.h"
#include "eval/ppl.h"
#include "eval/task_data.h"
#include "test_util.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

std::string data() {
  return (fs::path(test::source_dir()) / "data").string();  // (not `string&& + "/data"`: GCC 12's -Warray-bounds)
}

TEST(TaskData, PromptsAsLmEval) {
  TaskData piqa = load_task("piqa", data(), 2, 0);
  ASSERT_EQ(piqa.docs.size(), 2u);
  EXPECT_EQ(piqa.original_size, 1838);
  EXPECT_EQ(piqa.docs[0].contexts[0], "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ(piqa.docs[0].continuations[0].substr(0, 12), " Provide the");
  TaskData arc = load_task("arc_easy", data(), 1, 0);
  EXPECT_EQ(arc.docs[0].contexts[0],
            "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
  TaskData wino = load_task("winogrande", data(), 1, 0);
  EXPECT_EQ(wino.docs[0].contexts.size(), 2u);
  EXPECT_EQ(wino.docs[0].continuations[0], " always got the easier cases.");
  TaskData mmlu = load_task("mmlu_abstract_algebra", data(), 1, 1);
  EXPECT_EQ(mmlu.docs[0].contexts[0].rfind(
                "The following are multiple choice questions (with answers) about abstract algebra.\n\n", 0),
            0u);
  EXPECT_NE(mmlu.docs[0].contexts[0].find("\nAnswer: "), std::string::npos);  // the 1-shot example's answer
  EXPECT_EQ(mmlu.docs[0].continuations, (std::vector<std::string>{" A", " B", " C", " D"}));
  TaskData hs = load_task("hellaswag", data(), 1, 0);
  EXPECT_EQ(hs.docs[0].contexts[0], "Roof shingle removal: A man is sitting on a roof. He");
  TaskData lam = load_task("lambada_openai", data(), 1, 0);
  EXPECT_EQ(lam.kind, "loglikelihood");
  EXPECT_EQ(lam.docs[0].continuations[0], " signs");
}

TEST(TaskData, MalformedInputsNameFileAndLine) {
  std::string d = test::temp_dir("bad_tasks");
  fs::create_directories(d + "/piqa");
  fs::create_directories(d + "/arc");
  fs::create_directories(d + "/mmlu/test");
  write_file_atomic(d + "/piqa/valid.jsonl", "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n");
  EXPECT_NE(test::error_of([&] { load_task("piqa", d, 0, 0); }).find("valid-labels.lst not found"), std::string::npos);
  write_file_atomic(d + "/piqa/valid-labels.lst", "0\n1\n");
  EXPECT_NE(test::error_of([&] { load_task("piqa", d, 0, 0); }).find("2 labels for 1 questions"), std::string::npos);
  write_file_atomic(d + "/piqa/valid-labels.lst", "7\n");
  EXPECT_NE(test::error_of([&] { load_task("piqa", d, 0, 0); }).find("valid-labels.lst:1: label \"7\""),
            std::string::npos);
  write_file_atomic(d + "/arc/arc_easy.jsonl",
                    "{\"query\":\"Question: q\",\"choices\":[\"a\",\"b\"],\"gold\":0}\n{oops\n");
  EXPECT_NE(test::error_of([&] { load_task("arc_easy", d, 0, 0); }).find("arc_easy.jsonl:2: not valid JSON"),
            std::string::npos);
  write_file_atomic(d + "/arc/arc_easy.jsonl", "{\"query\":\"Question: q\",\"choices\":[\"a\",\"b\"],\"gold\":5}\n");
  EXPECT_NE(test::error_of([&] { load_task("arc_easy", d, 0, 0); }).find("arc_easy.jsonl:1: gold 5 out of range"),
            std::string::npos);
  write_file_atomic(d + "/arc/arc_challenge.jsonl", "{\"choices\":[\"a\"],\"gold\":0}\n");
  EXPECT_NE(test::error_of([&] {
              load_task("arc_challenge", d, 0, 0);
            }).find("arc_challenge.jsonl:1: missing string field \"question\""),
            std::string::npos);
  write_file_atomic(d + "/mmlu/test/anatomy_test.csv",
                    "question,choice0,choice1,choice2,choice3,answer\n\"q,1\",a,b,c,d,9\n");
  EXPECT_NE(test::error_of([&] { load_task("mmlu_anatomy", d, 0, 0); }).find("row 2: answer \"9\""), std::string::npos);
  write_file_atomic(d + "/mmlu/test/anatomy_test.csv", "\"unterminated,a,b\n");
  EXPECT_NE(
      test::error_of([&] { load_task("mmlu_anatomy", d, 0, 0); }).find("anatomy_test.csv:1: unterminated quoted field"),
      std::string::npos);
  EXPECT_NE(test::error_of([&] { load_task("openbookqa", d, 0, 0); }).find("openbook_qa.jsonl"), std::string::npos);
  EXPECT_NE(test::error_of([&] { load_task("nope", d, 0, 0); }).find("unknown task \"nope\""), std::string::npos);
  EXPECT_NE(test::error_of([&] { load_task("piqa", data(), 0, 3); }).find("--num_fewshot > 0"), std::string::npos);
  write_file_atomic(d + "/empty.txt", "");
  EXPECT_NE(test::error_of([&] { load_ppl_text("ppl", d, d + "/empty.txt"); }).find("empty.txt: text is empty"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { load_ppl_text("wikitext2", d); }).find("wikitext-test.txt not found"),
            std::string::npos);
}

TEST(TaskData, PerplexityTexts) {
  PplText w = load_ppl_text("wikitext2", data());
  EXPECT_EQ(w.text.find('\r'), std::string::npos);  // CRLF normalised
  EXPECT_EQ(w.sha256, "71fa921e51ba607b4364d8787d05f4513b41b33732dd3504ff1af8952c6e7e77");
  PplText c = load_ppl_text("c4", data());
  EXPECT_EQ(c.max_windows, 256);
  EXPECT_EQ(c.text.substr(0, 20), read_documents(data() + "/c4/c4_sample.jsonl", nullptr)[0].substr(0, 20));
}

// A hellaswag label that is not an index (fuzz finding: "!" ended in std::invalid_argument) is an
// error naming the file and line.
TEST(TaskData, HellaswagLabelMustBeAnIndex) {
  std::string d = test::temp_dir("hs_label");
  fs::create_directories(d + "/hellaswag");
  for (const std::string label : {"\"!\"", "\"-1\"", "\"4\"", "1.5", "\"99999999999999999999\""}) {
    write_file_atomic(d + "/hellaswag/hellaswag_val.jsonl",
                      "{\"activity_label\": \"x\", \"ctx_a\": \"A man is\", \"ctx_b\": \"here\", \"endings\": [\"a\", "
                      "\"b\", \"c\", \"d\"], \"label\": " +
                          label + "}\n");
    EXPECT_NE(test::error_of([&] { load_task("hellaswag", d, 0, 0); }).find("hellaswag_val.jsonl:1: bad label"),
              std::string::npos)
        << label;
  }
}

TEST(TaskData, CsvQuotesAndNewlines) {
  auto rows = parse_csv("a,\"b,c\",\"d\"\"e\"\n\"multi\nline\",x,\n", "t.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"multi\nline", "x", ""}));
}

TEST(Report, MarkdownAndCsvFromResultFiles) {
  std::string d = test::temp_dir("report");
  write_file_atomic(d + "/a.json",
                    R"({"config":{"model":"m1"},"results":{"piqa":{"acc,none":0.5},"arc_easy":{"acc,none":0.25},
    "arc_challenge":{"acc,none":0.2},"winogrande":{"acc,none":0.5},"openbookqa":{"acc,none":0.1},"mmlu":{"acc,none":0.25},
    "wikitext2":{"ppl":12.5}}})");
  write_file_atomic(d + "/b.json", R"({"results":{"piqa":{"acc,none":0.75}}})");
  ReportArgs o;
  o.inputs = {d + "/a.json", d + "/b.json"};
  o.output = d + "/t.md";
  o.csv = d + "/t.csv";
  run_report(o);
  std::string md = read_file(o.output), csv = read_file(o.csv);
  EXPECT_NE(md.find("| 25.00 | 50.00 | 25.00 | 20.00 | 50.00 | 10.00 | 30.00 | 12.500 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 75.00 | - |"), std::string::npos) << md;
  EXPECT_NE(csv.find("run,mmlu,piqa,arc_easy,arc_challenge,winogrande,openbookqa,avg,avg_se,ppl"), std::string::npos)
      << csv;
  // figures: per-block density of pruned folders, training curves from metrics.jsonl
  fs::create_directories(d + "/cell/model");
  write_file_atomic(d + "/cell/model/leap_sparsity.json",
                    R"({"method":"leap","target_sparsity":0.5,"pattern":"unstructured",
    "achieved_sparsity":{"per_layer":[0.4,0.55,0.6]}})");
  write_file_atomic(d + "/cell/eval.json", "{\"config\":{\"model\":\"x\",\"model_path\":\"" + d +
                                               "/cell/model\"},\"results\":{\"piqa\":{\"acc,none\":0.5}}}");
  write_file_atomic(d + "/cell/metrics.jsonl", "{\"step\":1,\"ce\":5.0}\n{\"step\":2,\"ce\":4.0}\n");
  o.inputs = {d + "/cell/eval.json"};
  o.output.clear();
  o.csv.clear();
  o.plot = {d + "/density.svg", d + "/loss.svg"};
  run_report(o);
  std::string density = read_file(d + "/density.svg"), loss = read_file(d + "/loss.svg");
  EXPECT_NE(density.find("<polyline"), std::string::npos);
  EXPECT_NE(density.find("leap 50%"), std::string::npos);          // run named from leap_sparsity.json
  EXPECT_NE(density.find("budget 0.50"), std::string::npos);       // the budget line
  EXPECT_NE(density.find("stroke-dasharray"), std::string::npos);  // dashed
  EXPECT_NE(loss.find("optimizer step"), std::string::npos);
  o.plot.clear();
  // a sweep's recorded cell: the model folder is gone, its leap_sparsity.json lies beside eval.json
  fs::create_directories(d + "/kept");
  write_file_atomic(d + "/kept/leap_sparsity.json", R"({"method":"admm","target_sparsity":0.6,"pattern":"2:4"})");
  write_file_atomic(d + "/kept/eval.json", "{\"config\":{\"model\":\"x\",\"model_path\":\"" + d +
                                               "/gone/model\"},\"results\":{\"piqa\":{\"acc,none\":0.5}}}");
  o.inputs = {d + "/kept/eval.json"};
  o.output = d + "/kept.md";
  run_report(o);
  EXPECT_NE(read_file(o.output).find("| admm 60% 2:4 |"), std::string::npos) << read_file(o.output);
  o.output.clear();
  write_file_atomic(d + "/bad.json", "{}");
  o.inputs = {d + "/bad.json"};
  EXPECT_NE(test::error_of([&] { run_report(o); }).find("no \"results\" object"), std::string::npos);
}

// Two cells (leap and admm at 50%) with per-document samples: the table's avg ± s.e. from the tasks'
// stderrs, the paired table from the documents (hand-computed), and samples that do not match
// their result file refused.
TEST(Report, PairedDifferencesOverTheSameDocuments) {
  std::string d = test::temp_dir("report_paired");
  const std::vector<std::string> tasks = {"mmlu", "piqa", "arc_easy", "arc_challenge", "winogrande", "openbookqa"};
  // extra: more fields of leap_sparsity.json (a variant's config), folder: the cell's name
  auto cell = [&](const std::string& method, const std::vector<double>& piqa, const std::string& extra = "",
                  const std::string& folder = "") {
    const std::string c = d + "/" + (folder.empty() ? method : folder);
    fs::create_directories(c + "/model");
    write_file_atomic(c + "/model/leap_sparsity.json", "{\"method\":\"" + method +
                                                           "\",\"target_sparsity\":0.5,\"pattern\":\"unstructured\"" +
                                                           extra + "}");
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    std::string samples;
    for (const auto& t : tasks) {
      std::vector<double> acc = t == "piqa" ? piqa : std::vector<double>{1, 0};
      double mean = 0;
      for (size_t i = 0; i < acc.size(); ++i) {
        mean += acc[i] / double(acc.size());
        samples +=
            "{\"task\":\"" + t + "\",\"doc_id\":" + std::to_string(i) + ",\"acc\":" + std::to_string(acc[i]) + "}\n";
      }
      r[t] = {{"acc,none", mean}, {"acc_stderr,none", 0.06}};  // 6 points each: s.e. of the mean √(6·36)/6 = 2.45
    }
    nlohmann::ordered_json j = {{"config", {{"model", "x"}, {"model_path", c + "/model"}}}, {"results", r}};
    write_file_atomic(c + "/eval.json", j.dump());
    write_file_atomic(c + "/samples.jsonl", samples);
    return c + "/eval.json";
  };
  ReportArgs o;
  o.inputs = {cell("admm", {1, 0, 0, 0}), cell("leap", {1, 1, 0, 1})};
  o.paired = {"leap:admm"};
  o.output = d + "/t.md";
  run_report(o);
  std::string md = read_file(o.output);
  EXPECT_NE(md.find("| admm 50% | 50.00 | 25.00 | 50.00 | 50.00 | 50.00 | 50.00 | 45.83 ± 2.45 | - |"),
            std::string::npos)
      << md;
  // piqa: d = (0, 100, 0, 100) → mean 50, sd √(4·2500/3) = 57.74, s.e. 28.87; the others 0 ± 0;
  // the six-task difference 50/6 = 8.33 ± 28.87/6 = 4.81
  EXPECT_NE(md.find("| leap 50% − admm 50% | +0.00 ± 0.00 | +50.00 ± 28.87 | +0.00 ± 0.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("**+8.33 ± 4.81**"), std::string::npos) << md;
  // variants are part of a run's label: leap with OWL and distillation against plain leap, and
  // reconstructed admm, neither of which is the plain run of its method
  o.inputs = {cell("admm", {1, 0, 0, 0}), cell("leap", {1, 1, 0, 1}),
              cell("leap", {1, 1, 1, 1}, R"(,"config":{"owl_m":5.0,"distill_weight":0.5})", "leap_owl"),
              cell("admm", {0, 0, 0, 0}, R"(,"reconstruct":null,"config":{"owl_m":0.0,"distill_weight":0.0})", "admm2"),
              cell("leap", {0, 1, 0, 1}, R"(,"reconstruct":"admm")", "leap_rec")};
  o.paired = {"leap+distill+owl:leap", "leap+reconstruct-admm:leap"};
  run_report(o);
  md = read_file(o.output);
  EXPECT_NE(md.find("| leap+distill+owl 50% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| leap+reconstruct-admm 50% |"), std::string::npos) << md;
  // piqa: d = (0, 0, 100, 0) → +25.00 ± 25.00; d = (−100, 0, 0, 0) → −25.00 ± 25.00
  EXPECT_NE(md.find("| leap+distill+owl 50% − leap 50% | +0.00 ± 0.00 | +25.00 ± 25.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| leap+reconstruct-admm 50% − leap 50% | +0.00 ± 0.00 | -25.00 ± 25.00 |"), std::string::npos)
      << md;
  EXPECT_EQ(md.find("− admm"), std::string::npos) << md;  // no pair asked for admm
  // a seed other than 0 is part of the label: two seeds of one recipe are two rows that pair
  o.inputs = {cell("leap", {1, 1, 0, 1}), cell("leap", {1, 0, 0, 1}, R"(,"seed":1)", "leap_seed1"),
              cell("leap", {1, 1, 0, 1}, R"(,"seed":0)", "leap_seed0")};
  o.paired = {"leap@seed1:leap"};
  run_report(o);
  md = read_file(o.output);
  EXPECT_NE(md.find("| leap@seed1 50% |"), std::string::npos) << md;
  // piqa: d = (0, −100, 0, 0) → −25.00 ± 25.00, against the first plain leap run
  EXPECT_NE(md.find("| leap@seed1 50% − leap 50% | +0.00 ± 0.00 | -25.00 ± 25.00 |"), std::string::npos) << md;
  o.inputs = {d + "/admm/eval.json", d + "/leap/eval.json"};
  o.paired = {"leap:admm"};
  // samples that are not the result file's documents
  write_file_atomic(d + "/admm/samples.jsonl", "{\"task\":\"piqa\",\"doc_id\":0,\"acc\":1.0}\n");
  EXPECT_NE(test::error_of([&] { run_report(o); }).find("belong to another evaluation"), std::string::npos);
  o.paired = {"leap"};
  EXPECT_NE(test::error_of([&] { run_report(o); }).find("expected METHOD:BASELINE"), std::string::npos);
}

}  // namespace
}  // namespace leap

#include "eval/tasks.h"
#include "io/model_path.h"
#include "model/model.h"

namespace leap {
namespace {

TEST(Scorer, ContinuationLongerThanMaxLengthScoresItsTail) {
  std::string dir = resolve_model("stories260k").dir;
  CausalLM m = load_model(dir, {});
  auto tok = load_tokenizer(dir);
  LoglikelihoodScorer s(m, *tok, /*max_length=*/16, 4);
  std::string cont = " Once upon a time there was a little girl named Lily who loved to play in the park with her dog";
  auto [cenc, contenc] = s.encode_pair("Story:", cont);
  ASSERT_GT(contenc.size(), 16u);
  auto r = s.score({{"Story:", cont}}, "t");
  // reference: the last 16 continuation tokens, each predicted from the 16 tokens before it
  std::vector<int64_t> all = cenc;
  all.insert(all.end(), contenc.begin(), contenc.end());
  std::vector<int64_t> window(all.end() - 17, all.end());
  torch::NoGradGuard ng;
  auto lp = torch::log_softmax(
      m->forward(torch::tensor(std::vector<int64_t>(window.begin(), window.end() - 1)).view({1, -1}))[0], -1);
  double ll = 0;
  for (int i = 0; i < 16; ++i) ll += lp[i][window[size_t(i) + 1]].item<double>();
  EXPECT_NEAR(r[0].ll, ll, 1e-4);
}

}  // namespace
}  // namespace leap
