# `rails db:migrate` without a Rails application: the same Active Record
# calls the task makes (DatabaseTasks.migrate over db/migrate), configured
# from the environment: RAILS_DB_HOST, RAILS_DB_PORT, RAILS_DB_USER,
# RAILS_DB_PASSWORD, RAILS_DB_DATABASE. Exits non-zero when a migration fails.
require "active_record"

ActiveRecord::Base.logger = Logger.new($stdout, level: Logger::WARN)
ActiveRecord::Base.configurations = {
  "production" => {
    "adapter" => "mysql2",
    "host" => ENV.fetch("RAILS_DB_HOST"),
    "port" => Integer(ENV.fetch("RAILS_DB_PORT")),
    "username" => ENV.fetch("RAILS_DB_USER"),
    "password" => ENV.fetch("RAILS_DB_PASSWORD"),
    "database" => ENV.fetch("RAILS_DB_DATABASE"),
    "connect_timeout" => 10,
  },
}
ActiveRecord::Tasks::DatabaseTasks.env = "production"
ActiveRecord::Tasks::DatabaseTasks.migrations_paths = [File.join(__dir__, "db", "migrate")]
# as the db:load_config task does
ActiveRecord::Migrator.migrations_paths = ActiveRecord::Tasks::DatabaseTasks.migrations_paths
ActiveRecord::Base.establish_connection(:production)
$stdout.sync = true
ActiveRecord::Tasks::DatabaseTasks.migrate
