"""The report step on a small committed results file (bench/testdata/results.jsonl): one
commit per table, the newest by default, min–max where there were several runs, a line cut
short by an interruption skipped, and the page's prose kept around the generated block."""
import os
import tempfile
import unittest

import report

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "results.jsonl")


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.runs = report.load(DATA)

    def test_an_interrupted_line_is_skipped(self):
        self.assertEqual(len(self.runs), 7)

    def test_the_newest_commit_is_reported_alone(self):
        self.assertEqual(report.newest_commit(self.runs), "bbbbbbbbbbbb")
        results = report.aggregate(self.runs, "bbbbbbbbbbbb")
        cell = results[("meshtls", "tofu", 50)]
        self.assertEqual((cell["apply"]["min"], cell["apply"]["median"], cell["apply"]["max"]), (10.0, 11.0, 12.0))
        self.assertEqual(cell["runs"], 3)
        text = report.block(self.runs, "bbbbbbbbbbbb")
        self.assertIn("commit `bbbbbbbbbbbb`", text)
        self.assertNotIn("99.0", text, "another commit's figures must not appear")
        self.assertIn("| 50 | meshtls | tofu | 11.0 (10.0–12.0) |", text)
        self.assertIn("| 50 | floor | tofu | 5.0 |", text, "one run: no spread")
        self.assertIn("meshtls / floor | 2.20 | 3.00 | 3.00 |", text)
        self.assertIn("Not measured at this commit yet", text)
        self.assertIn("go-providers with tofu at N=50", text)
        self.assertIn("floor with tofu at N=500", text)

    def test_an_older_commit_can_be_asked_for(self):
        text = report.block(self.runs, "aaaaaaaaaaaa")
        self.assertIn("| 50 | meshtls | tofu | 99.0 |", text)
        self.assertNotIn("11.0", text)

    def test_the_page_keeps_its_prose(self):
        with tempfile.TemporaryDirectory() as d:
            page = os.path.join(d, "performance.md")
            with open(page, "w") as f:
                f.write("# Performance\n\nbefore\n\n<!-- bench:results -->\nold\n<!-- /bench:results -->\n\nafter\n")
            report.main(["--results", DATA, "--page", page, "--chart", ""])
            with open(page) as f:
                text = f.read()
            self.assertTrue(text.startswith("# Performance\n\nbefore\n"))
            self.assertTrue(text.endswith("<!-- /bench:results -->\n\nafter\n"))
            self.assertNotIn("\nold\n", text)
            self.assertIn("commit `bbbbbbbbbbbb`", text)

    def test_the_rss_growth_from_500_to_2000_is_stated(self):
        cell = lambda rss: {"rss": rss}
        results = {("meshtls-map", "tofu", 500): cell(70.0), ("meshtls-map", "tofu", 2000): cell(175.0),
                   ("meshtls", "tofu", 500): cell(40.0), ("floor", "tofu", 500): cell(None)}
        text = report.rss_growth(results, [500, 2000])
        self.assertIn("| meshtls-map | tofu | 70.0 MiB | 175.0 MiB | 2.50x |", text)
        self.assertIn("| meshtls | tofu | 40.0 MiB | – | – |", text, "no N = 2000 yet: no growth")
        self.assertNotIn("| floor |", text, "no provider, no row")

    def test_no_runs_of_the_commit_is_an_error(self):
        with self.assertRaises(SystemExit):
            report.main(["--results", DATA, "--commit", "cccccccccccc", "--page", os.devnull, "--chart", ""])


if __name__ == "__main__":
    unittest.main()
