# A later deploy renames a column of a table an earlier deploy created:
# running code may still use the old name.
class RenameNameAgain < ActiveRecord::Migration[6.1]
  def change
    rename_column :products, :name, :label
  end
end
