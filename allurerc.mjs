// Allure 3 configuration for the production-readiness report (npm package `allure`,
// pinned in package.json). Built offline by readiness_harness.allure_report:
//
//   npx allure generate --config allurerc.mjs --output allure-report allure-results
//
// History: Allure 3 appends one line per run to a JSONL file and shows the earlier runs
// in the report. Point READINESS_ALLURE_HISTORY at the file kept from the previous run
// (CI caches it between runs); without it the report has no history.
//
// Analytics: allure 3.18.0's awesome template always embeds a Google Analytics tag
// (`analyticsEnable: true` is hard-coded; allure-framework/allure3#476 asks for an
// option, and there is no config field for it yet). readiness_harness.allure_report
// removes that tag from the generated HTML and refuses a report that still refers to
// anything outside itself. ALLURE_NO_ANALYTICS=true is set as well, which the allure2
// and classic plugins' successors honour.

const historyPath = process.env.READINESS_ALLURE_HISTORY || undefined;
// `readiness report` names a tag-filtered run's report as partial: its ring covers only the
// lines that ran (the others are listed as "not run in this partial run").
const reportName = process.env.READINESS_REPORT_NAME || "Production readiness";

export default {
  name: reportName,
  output: "./allure-report",
  historyPath,
  appendHistory: true,
  plugins: {
    awesome: {
      options: {
        reportName,
        singleFile: false,
        reportLanguage: "en",
        // The checklist's areas by their titles, then their lines.
        groupBy: ["epic"],
      },
    },
  },
};
