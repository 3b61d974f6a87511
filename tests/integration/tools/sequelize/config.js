// sequelize-cli connection: ddlgate's port (or MariaDB's) from the test's environment.
module.exports = {
  development: {
    dialect: 'mysql', // the mysql2 driver
    host: process.env.TOOL_HOST,
    port: Number(process.env.TOOL_PORT),
    username: process.env.TOOL_USER,
    password: process.env.TOOL_PASSWORD,
    database: process.env.TOOL_DATABASE,
    logging: (sql) => console.log(sql),
  },
};
