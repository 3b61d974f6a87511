// drizzle-kit settings: SQL migrations in ./drizzle, ddlgate's port (or MariaDB's) from the test's environment.
module.exports = {
  dialect: 'mysql',
  out: './drizzle',
  dbCredentials: {
    host: process.env.TOOL_HOST,
    port: Number(process.env.TOOL_PORT),
    user: process.env.TOOL_USER,
    password: process.env.TOOL_PASSWORD,
    database: process.env.TOOL_DATABASE,
  },
};
