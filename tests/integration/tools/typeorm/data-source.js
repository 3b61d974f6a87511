// TypeORM data source: ddlgate's port (or MariaDB's) from the test's environment.
const { DataSource } = require('typeorm');

module.exports = new DataSource({
  type: 'mysql',
  connectorPackage: 'mysql2',
  host: process.env.TOOL_HOST,
  port: Number(process.env.TOOL_PORT),
  username: process.env.TOOL_USER,
  password: process.env.TOOL_PASSWORD,
  database: process.env.TOOL_DATABASE,
  migrations: [`${__dirname}/migrations/*.js`],
  logging: true,
});
