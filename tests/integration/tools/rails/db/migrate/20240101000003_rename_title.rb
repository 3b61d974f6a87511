# A long step (it waits for the test's gate, see the test), then a rename
# of a column of a table this run created.
class RenameTitle < ActiveRecord::Migration[6.1]
  def change
    execute "SELECT GET_LOCK('tool_test_gate', 60)"
    rename_column :products, :title, :name
  end
end
